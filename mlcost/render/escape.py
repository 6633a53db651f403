"""One escaping rule per output channel, for every string that came from the user (model names, paths, refs,
messages that quote them).  Nothing a user wrote may start a line, end one, or become markup or a command.

- ``plain``: log and terminal text (text tables, error lines).  Control characters (newlines included) become
  visible backslash escapes, so a name can never begin a new line; a string that would itself begin with a
  GitHub workflow command (``::warning``) gets a leading backslash, and the legacy ``##[`` command marker is
  broken, because the Actions runner reads commands on any line of stdout and stderr.
- ``workflow_data`` / ``workflow_property``: the message and the properties of a ``::error`` command, escaped as
  actions/toolkit's command.ts does (``%``, CR, LF; and ``:`` and ``,`` in properties).
- ``markdown``: a table cell or a quoted line in a PR comment / step summary: control characters as in
  ``plain``, the characters that open markup (backslash, `, [, ], <, >, |) backslash-escaped (CommonMark allows it for
  any ASCII punctuation), so no name becomes a link, an image, HTML or a new table cell.
- ``xml``: characters XML 1.0 cannot carry at all become backslash escapes (ElementTree escapes the rest).
"""
from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MARKDOWN = re.compile(r"([\\`\[\]<>|])")  # code spans `, links and images [ ], HTML < >, table cells |
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def plain(text: object) -> str:
    """TEXT on one line, with no workflow command in it: '\\n::warning x' -> '\\\\n::warning x'."""
    s = _CONTROL.sub(_escape_char, str(text)).replace("##[", "#\\#[")
    return "\\" + s if s.lstrip().startswith("::") else s


def workflow_data(text: object) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: object) -> str:
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def markdown(text: object) -> str:
    return _MARKDOWN.sub(r"\\\1", _CONTROL.sub(_escape_char, str(text)))


def xml(text: object) -> str:
    return _NOT_XML.sub(_escape_char, str(text))
