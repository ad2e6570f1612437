"""HTML → plain text: the text part of an email, readable in any mail client."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "ul",
    }
)  # fmt: skip
_LINE_TAGS = frozenset({"li", "tr", "caption", "thead", "tbody", "tfoot"})
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_CELL_TAGS = frozenset({"td", "th"})
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str, int]] = []  # (href, index into parts where text starts)

    # Output helpers.
    def _text(self) -> str:
        return "".join(self.parts)

    def _at_line_start(self) -> bool:
        for part in reversed(self.parts):
            if part:
                return part.endswith("\n")
        return True

    def _newlines(self, count: int) -> None:
        text = self._text()
        if not text.strip():
            return
        have = len(text) - len(text.rstrip("\n"))
        if have < count:
            # Trailing spaces before a line break are noise.
            if self.parts:
                self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * (count - have))

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._newlines(2)
            if tag == "pre":
                self.pre_depth += 1
            if tag == "hr":
                self.parts.append("---")
                self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1)
            if tag == "li":
                self.parts.append("- ")
        elif tag in _CELL_TAGS:
            if not self._at_line_start():
                self.parts.append(" ")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href, len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.handle_data(alt)

    def handle_startendtag(self, tag: str, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag in _BLOCK_TAGS:
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = " ".join("".join(self.parts[start:]).split())
            if not href.lower().startswith(_LINK_SCHEMES):
                return
            shown = href[7:] if href.lower().startswith("mailto:") else href
            if not text:
                self.parts.append(shown)
            elif text.rstrip("/") not in (href.rstrip("/"), shown.rstrip("/")):
                self.parts.append(f" ({shown})")

    def handle_data(self, data: str) -> None:
        if self.skip_depth or not data:
            return
        if self.pre_depth:
            self.parts.append(data)
            return
        text = _SPACES.sub(" ", data)
        if self._at_line_start():
            text = text.lstrip(" ")
        elif text.startswith(" ") and self.parts and self.parts[-1].endswith(" "):
            text = text.lstrip(" ")
        if text:
            self.parts.append(text)


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML email: paragraphs, line breaks, `text (url)`."""
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    lines = [line.rstrip() for line in parser._text().split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue  # at most one blank line in a row, none at the start
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
