"""mkdocs hooks for the docs site (named in mkdocs.yml).

Some docstrings still use reStructuredText roles (``:class:`Mount```): the API
reference shows the name as code instead of the raw role.
"""

from __future__ import annotations

import re
from typing import Any

# A role rendered from Markdown: ":class:" followed by the code span of its target.
_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj):(<code>)~?")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop the role prefix, keep the code span."""
    return _ROLE.sub(r"\1", html)
