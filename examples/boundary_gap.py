"""Where a network's gap to its bound is, kernel by kernel: `python examples/boundary_gap.py resnet50 edge`.

Timing-only, each kernel on the model alone (as kernel-by-kernel runs do): its cycles, its roofline bound, the cycles
before its first MATMUL (its first loads: fill at the kernel boundary) and after its last (its last epilogue and stores:
drain), and the rest (inside the kernel). Vector kernels count from their first and last VECTOR. BENCHMARKS.md
"One program per network" quotes ResNet-50 on edge.
"""
import json
import sys

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.partition import placeholder_output
from tinyaccel.compiler.schedule import GraphLowering
from tinyaccel.flow import run as R
from tinyaccel.sim.model import Machine, run

if __name__ == "__main__":
  name, preset = (sys.argv[1:] + ["resnet50", "edge"][len(sys.argv) - 1:])[:2]
  cfg = load_config(preset)
  g = GraphLowering(R.build_network(name), cfg, lambda p: R.timing_cycles(cfg, p), timing_only=True)
  rows = []
  for i in range(len(g.kernels)):
    *cs, main = g.lower(i)
    for low in cs + [main]:
      r = run(cfg, low.program.program, machine=Machine(cfg, dram_bytes=len(low.program.dram), functional=False))
      work = [t for t in r.trace if t[2] == "matmul"] or [t for t in r.trace if t[2] == "vector"] or r.trace
      rows.append(dict(name=low.name, shape=low.shape, fused=low.fused, cycles=r.cycles, bound=r.stats.roofline_bound_cycles,
                       fill=min(t[3] for t in work), drain=r.cycles - max(t[4] for t in work), stalls=r.stats.stall_cycles))
    g.bind(i, main, placeholder_output(main.program))
  tot = {k: sum(r[k] for r in rows) for k in ("cycles", "bound", "fill", "drain")}
  print(json.dumps(dict(network=name, config=preset, kernels=len(rows), **tot, gap=tot["cycles"] - tot["bound"],
                        inside=tot["cycles"] - tot["bound"] - tot["fill"] - tot["drain"],
                        worst=sorted(rows, key=lambda r: r["bound"] - r["cycles"])[:6]), indent=1))
