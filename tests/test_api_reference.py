"""The API reference reads like one (issue 13 item 15).

Every public name is on a page of ``docs/api/``; every page documents public
names only; and the built pages (``mkdocs build``) give each class and
function its own heading with its methods below it, show no internal helper
and no raw reStructuredText.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import volstore
import volstore.aio
import volstore.backends
import volstore.modal
import volstore.s3
import volstore.testing

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))
DIRECTIVE = re.compile(r"^::: (\S+)", re.M)
# Documented through a public name although they live in a private module.
PRIVATE_DOCSTRINGS = {"volstore._errors"}  # the error tree: its module docstring only
# Helpers that are public in Python (other modules use them) but no part of the API.
INTERNALS = [
    "short_reason", "install_hint", "files_in", "user_files", "maybe_reload", "read_bytes",
    "pending_ids", "pending_objects", "adopt", "unit_of_work", "check_reload_arg",
]  # fmt: skip


def directives() -> list[str]:
    return [target for page in PAGES for target in DIRECTIVE.findall(page.read_text())]


def test_every_public_name_is_in_the_api_reference() -> None:
    text = "\n".join(page.read_text() for page in PAGES)
    names = [name for name in volstore.__all__ if name != "__version__"]
    missing = [name for name in names if f"volstore.{name}" not in text and f"`{name}`" not in text]
    assert missing == []
    for module in (volstore.modal, volstore.s3, volstore.aio):
        assert [name for name in module.__all__ if name not in text] == [], module.__name__


def test_the_api_reference_documents_public_names_only() -> None:
    public = {f"volstore.{name}" for name in volstore.__all__}
    public |= {f"volstore.backends.{name}" for name in volstore.backends.__all__}
    public |= {f"volstore.testing.{name}" for name in volstore.testing.__all__}
    public |= {f"volstore.aio.{name}" for name in volstore.aio.__all__}
    public |= {"volstore.modal", "volstore.s3"} | PRIVATE_DOCSTRINGS
    public |= {"volstore.backends.s3.S3Backend", "volstore.backends.s3.S3AccessError"}
    assert [target for target in directives() if target not in public] == []


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The text of each built API page: its article, as HTML."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    pages = {}
    for page in PAGES:
        folder = site / "api" if page.stem == "index" else site / "api" / page.stem
        document = (folder / "index.html").read_text()
        pages[page.stem] = document[document.index("<article") : document.index("</article>")]
    return pages


def test_the_main_classes_have_headings_with_their_methods_below(built: dict[str, str]) -> None:
    store, repositories, models = built["store"], built["repositories"], built["models"]
    for page, name in [(store, "Store"), (store, "Session"), (repositories, "Repository"),
                       (repositories, "BucketedRepository"), (models, "Model")]:  # fmt: skip
        heading = re.search(rf'<h2[^>]*id="volstore\.{name}"[^>]*>(.*?)</h2>', page, re.S)
        assert heading is not None, name
        assert "class" in heading.group(1), name
    # methods are headed one level below their class, under its name
    assert re.search(r'<h3[^>]*id="volstore\.Store\.session"', store)
    assert re.search(r'<h3[^>]*id="volstore\.Session\.commit"', store)
    assert re.search(r'<h3[^>]*id="volstore\.Repository\.list"', repositories)
    assert re.search(r'<h3[^>]*id="volstore\.BucketedRepository\.range"', repositories)


def test_the_api_pages_show_no_internals_and_no_raw_restructured_text(
    built: dict[str, str],
) -> None:
    for name, page in built.items():
        text = html.unescape(re.sub(r"<[^>]+>", " ", page))
        assert not re.search(r":(class|func|meth|attr|mod):", text), name
        assert not re.search(r"\w::\s", text), name  # a reST literal-block marker
        assert "volstore._" not in text, name
        ids = re.findall(r'<h[1-6][^>]*id="([^"]+)"', page)
        assert [i for i in ids if "._" in i or i.rpartition(".")[2].startswith("_")] == [], name
        shown = {i.rpartition(".")[2] for i in ids}
        assert [helper for helper in INTERNALS if helper in shown] == [], name
