"""argparse with dlexp's one-line errors: ``--seeds: got 'abc'; allowed: ...``, not a usage block."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn, Optional

from dlexp.errors import DlexpError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a DlexpError (one line, exit 2) naming the option, the
    value and what is allowed. ``allowed`` maps an option (or ``"positional"``) to that text."""

    def __init__(self, *args, allowed: Optional[dict] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = allowed or {}

    def error(self, message: str) -> NoReturn:
        found = re.match(r"argument ([^:]+): (?:invalid \w+ value|invalid choice): '(.*?)'", message)
        if found:
            option = found.group(1).split("/")[-1]
            raise DlexpError(f"{option}: got {found.group(2)!r}; allowed: {self._allowed(option)}")
        found = re.match(r"argument ([^:]+): expected one argument", message)
        if found:
            option = found.group(1).split("/")[-1]
            raise DlexpError(f"{option}: got no value; allowed: {self._allowed(option)}")
        found = re.match(r"unrecognized arguments: (.*)", message)
        if found:
            raise DlexpError(f"{self.prog}: got unknown arguments {found.group(1)!r}; allowed: {self._usage()}")
        found = re.match(r"the following arguments are required: (.*)", message)
        if found:
            raise DlexpError(f"{found.group(1)}: got nothing; allowed: {self.allowed.get('positional') or self._usage()}")
        raise DlexpError(f"{self.prog}: {message}; allowed: {self._usage()}")

    def _allowed(self, option: str) -> str:
        if option in self.allowed:
            return self.allowed[option]
        for action in self._actions:
            if option in action.option_strings and action.choices:
                return "one of: " + ", ".join(map(str, action.choices))
        return "see --help"

    def _usage(self) -> str:
        return " ".join(self.format_usage().split())[len("usage: "):]
