"""The flow: compile, run, gather statistics, report; the layer between the libraries (arch/, compiler/, sim/, rtl/,
reports/) and the command line. `run.py` runs programs, GEMMs, graphs and networks into reports; `sweep.py` runs a
design sweep's points; `verify.py` holds the RTL against the model."""
from ..compiler.importers.scalesim import read_cfg as scalesim_config
from ..compiler.importers.scalesim import read_compute_report as scalesim_compute_report
from .run import (
                  GemmRun,
                  GraphRun,
                  KernelRun,
                  ProgramRun,
                  WorkloadError,
                  all_correct,
                  build_network,
                  evaluate,
                  load_workload,
                  network_summary,
                  report,
                  run_gemm,
                  run_graph,
                  run_network,
                  run_program,
                  run_topology,
                  timing_cycles,
)

__all__ = ["scalesim_config", "scalesim_compute_report", "GemmRun", "GraphRun", "KernelRun", "ProgramRun", "WorkloadError", "all_correct", "build_network", "evaluate", "load_workload",
           "network_summary", "report", "run_gemm", "run_graph", "run_network", "run_program", "run_topology", "timing_cycles"]
