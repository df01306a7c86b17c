"""``accelerate launch -m sn_core.cli.distributed``: sharded activation extraction (``sn_core.search.distributed``),
and with ``--search`` the search on the main process; it takes the search options of ``python -m sn_core search``,
so a later single-process search with the same options is a cache hit."""
from __future__ import annotations

import argparse
import json
import sys

from sn_core.cli.common import CliError, add_search_options, search_config
from sn_core.search.distributed import (extract_sharded, partial_state, run_sharded,  # noqa: F401  (the former
                                        search_extraction_plan)  # sn_core.distributed, one release)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="accelerate launch -m sn_core.cli.distributed",
                                 description="Sharded activation extraction (and optionally the search).")
    add_search_options(ap)
    ap.add_argument("--root", dest="cache_dir", help="the same as --cache-dir")
    ap.add_argument("--search", action="store_true", help="run the search on the main process afterwards")
    a = ap.parse_args(argv)
    try:
        cfg = search_config(a)
        state = partial_state(a.device)
        report = run_sharded(cfg, root=a.cache_dir, search=a.search, state=state,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
    except (CliError, ValueError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if state.is_main_process:
        print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
