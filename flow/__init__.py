"""The flow: compile, run, gather statistics, report; the layer between the libraries (arch/, compiler/, sim/, rtl/,
reports/) and the command line. `run.py` runs programs, GEMMs, graphs and networks into reports; `sweep.py` runs a
design sweep's points; `verify.py` holds the RTL against the model."""
from .run import (WorkloadError, ProgramRun, KernelRun, GraphRun, GemmRun, run_program, timing_cycles, run_graph, run_gemm, run_network,
                  build_network, load_workload, network_summary, evaluate, report, all_correct)
