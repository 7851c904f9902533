"""The flow: compile, run, gather statistics, report; the layer between the libraries (arch/, compiler/, sim/, rtl/,
reports/) and the command line. `run.py` runs programs, GEMMs, graphs and networks into reports; `sweep.py` runs a
design sweep's points; `verify.py` holds the RTL against the model."""
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
                  timing_cycles,
)

__all__ = ["GemmRun", "GraphRun", "KernelRun", "ProgramRun", "WorkloadError", "all_correct", "build_network", "evaluate", "load_workload",
           "network_summary", "report", "run_gemm", "run_graph", "run_network", "run_program", "timing_cycles"]
