"""Puts the user's ``-cd DIR`` in front of dlexp's packaged configs.

Hydra searches ``-cd`` folders after the application's own configs, so a user's
``DIR/model/deep.yaml`` would lose to the packaged one. dlexp promises the opposite (your
file replaces ours), so the ``dlexp`` dispatcher passes the folder in ``DLEXP_CONFIG_DIR`` and
this plugin adds it before the packaged configs when Hydra builds its search path.
"""

# No `from __future__ import annotations`: see stack_launcher.py (Hydra's plugin scan).
import os

from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.plugins.search_path_plugin import SearchPathPlugin

ENV_VAR = "DLEXP_CONFIG_DIR"


class DlexpUserConfigs(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        folder = os.environ.get(ENV_VAR)
        if not folder:
            return
        path = f"file://{os.path.abspath(folder)}"
        has_main = any(element.provider == "main" for element in search_path.get_path())
        if has_main:
            search_path.prepend(provider="dlexp-user", path=path, anchor=SearchPathQuery(provider="main"))
        else:
            search_path.append(provider="dlexp-user", path=path)


def register() -> None:
    """Make Hydra use this plugin where its scan of ``hydra_plugins`` cannot see this package
    (an editable install's import hook is not walkable); a normal install finds it by the scan."""
    from hydra.core.plugins import Plugins

    known = Plugins.instance().discover(SearchPathPlugin)
    if not any(cls.__name__ == DlexpUserConfigs.__name__ for cls in known):
        Plugins.instance().register(DlexpUserConfigs)
