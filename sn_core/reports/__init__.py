"""Reports built on a finished search: robustness to rewordings, shifted images and grounding controls
(``robustness``, ``rewordings``), the probe-size curve, the neuron atlas across tasks, and the measured claims."""
from sn_core.reports.atlas import Atlas, build_atlas, choose_searches
from sn_core.reports.claims import load_claims
from sn_core.reports.probe_curve import curve_to_json, probe_curve_summary, probe_size_curve
from sn_core.reports.rewordings import Rewording, RewordingError, load_rewordings, parse_rewordings
from sn_core.reports.robustness import RobustnessReport, format_report, robustness_report

__all__ = ["Atlas", "Rewording", "RewordingError", "RobustnessReport", "build_atlas", "choose_searches",
           "curve_to_json", "format_report", "load_claims", "load_rewordings", "parse_rewordings",
           "probe_curve_summary", "probe_size_curve", "robustness_report"]
