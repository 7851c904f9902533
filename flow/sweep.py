"""Design-space sweeps: the Cartesian product (or a random sample) of config parameters x workloads,
run in parallel on all cores (or on a dask.distributed cluster: `--scheduler tcp://HOST:8786`), each result stored as it finishes under a hash of its config and
workload, so an interrupted sweep resumes without recomputing or losing a point.

Sweep file (TOML):
    base = "edge"                          # preset or path every point starts from
    [params]                               # each a list; `array` sets rows = cols
    array = [16, 32, 64]
    spad_kib = [256, 512]
    [workloads]
    gemm = ["1024x1024x1024"]              # M x K x N
    networks = ["resnet18"]                # names from `tinyaccel list`
    batch = 32                             # optional: networks at this batch (default 1)
    [same]                                 # optional: a parameter that follows another at every point
    dram_channels = "cores"                #   one channel per core: DRAM bandwidth per core held constant
    [sample]                               # optional: a random subset of the product
    points = 10
    seed = 0
    [fpga]                                 # optional: every config through yosys + nextpnr (rtl/fpga.py) instead
    targets = ["ecp5-25k", "ecp5-85k"]     #   of the ASIC cost model; workloads become optional
    freq_mhz = [100, 150]                  #   requested clocks (default [100])
    top = "array"                          #   axi (default), core, array or array-unpipelined: what is placed
    imem_depth = 512                       #   instruction buffer depth (default 512)
    seed = 1                               #   nextpnr's placement seed
    board_usd = { ecp5-85k = 99.0 }        #   your board prices, for FLOP/s per $ (the reference data cites none)

A system sweep (`system = "petaflop_box8"`, a preset of configs/systems/ or a TOML path) sweeps the system's fields
(`[params] chips = [1, 2, 4, 8]`, link_gb_per_s, topology ...) over LLM phases (`[workloads] llm = ["gpt2_decoder decode"]`,
`batch`, `ctx`): each point is flow/system.run_system with its time split into compute, links and waiting.

An FPGA point is a config x target x clock (x workload): its synthesis is shared by every device size and clock of
the family, and both synthesis and place-and-route are cached by Verilog hash under build/fpga/ (the cache
`tinyaccel fpga` uses), so no design is synthesized twice, across sweeps too. Its performance is the model's
cycles for the workload at the achieved Fmax (reports/fpga.perf_per_usd).
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import fields
import difflib
import hashlib
import itertools
import json
import os
import random
import re
import signal

from tqdm import tqdm

from ..arch.config import AccelConfig, ConfigError, load_config, read_toml
from ..helpers import atomic_write
from ..reports.fpga import peak_flops_per_s, perf_per_usd
from .run import evaluate


class SweepError(ValueError): pass

def _known(path: str, where: str, keys, known):
  """Every key known, else one line with a did-you-mean."""
  for k in keys:
    if k not in known:
      near = difflib.get_close_matches(k, known, 1)
      raise SweepError(f"{path}: unknown key {where}{k!r}" + (f": did you mean {near[0]!r}?" if near else f" ({', '.join(known)})"))

def _list_of(path: str, where: str, v, ok, what: str) -> list:
  if not isinstance(v, list) or not v or not all(ok(x) for x in v): raise SweepError(f"{path}: {where} must be a non-empty list of {what}, got {v!r:.60}")
  return v

def load_sweep(path: str) -> dict:
  """The sweep file checked against its schema (types, known keys, non-empty grids) before any work."""
  from ..workloads import WORKLOADS
  s = read_toml(path, SweepError)
  _known(path, "", s, ("base", "system", "params", "same", "workloads", "sample", "fpga"))
  if "system" in s and not isinstance(s["system"], str): raise SweepError(f"{path}: system must be a system preset or a TOML path, got {s['system']!r:.60}")
  if not isinstance(s.get("base", "edge"), str): raise SweepError(f"{path}: base must be a preset name or a TOML path, got {s['base']!r:.60}")
  for t in ("params", "same", "workloads", "sample", "fpga"):
    if not isinstance(s.get(t, {}), dict): raise SweepError(f"{path}: {t} must be a table ([{t}]), got {s[t]!r:.60}")
  scalar = lambda x: isinstance(x, (int, float, str)) and not isinstance(x, bool)
  from ..arch.system import SystemConfig
  known = [f.name for f in fields(SystemConfig) if f.name not in ("name", "chip")] if "system" in s else ["array", *(f.name for f in fields(AccelConfig) if f.name != "name")]
  _known(path, "params.", s.get("params", {}), known)
  for k, v in s.get("params", {}).items(): _list_of(path, f"params.{k}", v, scalar, "values")
  for k, v in s.get("same", {}).items():
    _known(path, "same.", [k], known)
    if v not in s.get("params", {}) or k in s.get("params", {}): raise SweepError(f"{path}: same.{k} = {v!r}: must name a swept parameter other than {k} (one of {', '.join(s.get('params', {})) or 'none'})")
  w = s.get("workloads", {})
  _known(path, "workloads.", w, ("llm", "batch", "ctx") if "system" in s else ("gemm", "networks", "batch"))
  for k in ("batch", "ctx"):
    if k in w and (not isinstance(w[k], int) or isinstance(w[k], bool) or w[k] < 1): raise SweepError(f"{path}: workloads.{k} must be an integer >= 1, got {w[k]!r:.60}")
  if "system" in s:
    from ..workloads.llama import MODELS
    ok = lambda x: isinstance(x, str) and len(x.split()) == 2 and x.split()[0] in MODELS and x.split()[1] in ("decode", "prefill")
    _list_of(path, "workloads.llm", w.get("llm"), ok, f"'MODEL PHASE' strings (models {', '.join(MODELS)}; phase decode or prefill)")
  if "gemm" in w: _list_of(path, "workloads.gemm", w["gemm"], lambda x: isinstance(x, str) and re.fullmatch(r"[1-9]\d*x[1-9]\d*x[1-9]\d*", x), "MxKxN strings")
  if "networks" in w: _list_of(path, "workloads.networks", w["networks"], lambda x: isinstance(x, str) and x in WORKLOADS, f"networks ({', '.join(WORKLOADS)})")
  smp = s.get("sample", {})
  _known(path, "sample.", smp, ("points", "seed"))
  for k, lo in (("points", 1), ("seed", 0)):
    if k in smp and (not isinstance(smp[k], int) or isinstance(smp[k], bool) or smp[k] < lo): raise SweepError(f"{path}: sample.{k} must be an integer >= {lo}, got {smp[k]!r:.60}")
  if "fpga" in s: s["fpga"] = _fpga_spec(path, s["fpga"])
  elif not w: raise SweepError(f"{path}: [workloads] needs gemm and/or networks")
  return s

def _fpga_spec(path: str, f: dict) -> dict:
  """The [fpga] table checked, with its defaults."""
  from ..rtl.fpga import DEFAULT_FREQ_MHZ, IMEM_DEPTH, TARGETS, TOPS
  bad = lambda msg: SweepError(f"{path}: fpga.{msg}")
  for k in f:
    if k not in ("targets", "freq_mhz", "top", "imem_depth", "seed", "board_usd"):
      raise bad(f"{k}: unknown key (targets, freq_mhz, top, imem_depth, seed, board_usd)")
  spec = dict(targets=f.get("targets"), freq_mhz=f.get("freq_mhz", [DEFAULT_FREQ_MHZ]), top=f.get("top", "axi"), imem_depth=f.get("imem_depth", IMEM_DEPTH),
              seed=f.get("seed", 1), board_usd=f.get("board_usd", {}))
  if not isinstance(spec["targets"], list) or not spec["targets"]: raise bad(f"targets must be a non-empty list of {', '.join(TARGETS)}")
  for t in spec["targets"]:
    if t not in TARGETS: raise bad(f"targets: unknown target {t!r} (choose {', '.join(TARGETS)})")
  if not isinstance(spec["freq_mhz"], list) or not spec["freq_mhz"] or not all(isinstance(x, (int, float)) and x > 0 for x in spec["freq_mhz"]):
    raise bad("freq_mhz must be a non-empty list of clocks > 0 (MHz)")
  if spec["top"] not in TOPS: raise bad(f"top: {spec['top']!r} is not {', '.join(TOPS)}")
  for k in ("imem_depth", "seed"):
    if not isinstance(spec[k], int) or spec[k] < (k == "imem_depth"): raise bad(f"{k} must be a {'positive' if k == 'imem_depth' else 'non-negative'} integer")
  for t, usd in spec["board_usd"].items():
    if t not in spec["targets"] or not isinstance(usd, (int, float)) or not usd > 0: raise bad(f"board_usd.{t}: a price > 0 (US$) for one of the targets")
  return spec

def points(s: dict) -> list[tuple[dict, str | None, tuple | None]]:
  """(config overrides, workload, FPGA build (target, MHz) or None) for every point of the sweep, in a fixed order."""
  params = s.get("params", {})
  names = list(params)
  configs = [dict(zip(names, combo)) for combo in itertools.product(*(params[n] for n in names))]
  for c in configs:
    c |= {k: c[v] for k, v in s.get("same", {}).items()}
    if "array" in c: a = c.pop("array"); c["rows"] = c["cols"] = a
  w = s.get("workloads", {})
  at = f" batch {w['batch']}" if w.get("batch", 1) > 1 else ""
  works = [f"gemm {g}" for g in w.get("gemm", [])] + [n + at for n in w.get("networks", [])]
  if "system" in s: works = [f"llm {x} batch {w.get('batch', 1)} ctx {w.get('ctx', 2048)}" for x in w["llm"]]
  if "fpga" in s:
    builds = [(t, fr) for t in s["fpga"]["targets"] for fr in s["fpga"]["freq_mhz"]]
    pts = [(c, w, b) for c in configs for b in builds for w in works or [None]]
  else: pts = [(c, w, None) for c in configs for w in works]
  if "sample" in s:
    rnd = random.Random(s["sample"].get("seed", 0))
    pts = rnd.sample(pts, min(s["sample"].get("points", len(pts)), len(pts)))
  return pts

def key(base: str, over: dict, workload: str | None, build: tuple | None = None, fpga: dict | None = None) -> str:
  """A point's name in the store: what it depends on (an FPGA point: not the other targets or clocks of the sweep)."""
  k = [base, sorted(over.items()), workload]
  if build: k += [list(build), [fpga[x] for x in ("top", "imem_depth", "seed")], fpga["board_usd"].get(build[0])]
  return hashlib.sha256(json.dumps(k).encode()).hexdigest()[:16]

COST_KEYS = ("area_mm2", "chip_cost_usd", "energy_pj", "avg_power_w", "flops_per_usd", "flops_per_watt", "usd_per_pflops_hour")

def run_point(base: str, over: dict, workload: str) -> dict:
  """One design point, timing-only (cycles, traffic, cost, perf/$); errors are results too."""
  rec = dict(base=base, params=over, workload=workload)
  if workload.startswith("llm "): return rec | run_system_point(base, over, workload)
  try:
    cfg = load_config(base, **over)
    s, rep = evaluate(cfg, workload)
    rec |= dict(ok=True, config=cfg.to_dict(), cycles=s.cycles, macs=s.macs, utilization=s.utilization, seconds=s.seconds, **{k: rep[k] for k in COST_KEYS})
  except (ConfigError, ValueError) as e:
    rec |= dict(ok=False, error=str(e))
  return rec

SYSTEM_KEYS = ("chips", "tp", "pp", "microbatches", "seconds", "compute_seconds", "link_seconds", "wait_seconds", "compute_fraction", "link_fraction",
               "wait_fraction", "tokens_per_s", "tokens_per_s_per_usd", "link_bytes_per_step", "fits_memory")

def run_system_point(system: str, over: dict, workload: str) -> dict:
  """One system point: 'llm MODEL PHASE batch B ctx C' on the system with its overrides (flow/system.run_system: per-chip shards
  cycle-exact, composed with the link model); errors are results too."""
  from ..arch.system import load_system
  from .system import run_system
  _, model, phase, _, batch, _, ctx = workload.split()
  try:
    r = run_system(load_system(system, **over), model, phase, int(batch), int(ctx)).report
    return dict(ok=True, system=r["system"], config=r["config"], **{k: r[k] for k in SYSTEM_KEYS})
  except (ConfigError, ValueError) as e: return dict(ok=False, error=str(e))

def _task(args):
  base, over, workload, path = args
  return path, run_point(base, over, workload)

def _worker_init(parent: int):
  """In each worker: Ctrl-C is the parent's to handle (it stops the workers), and a worker whose parent is gone
  (killed, even by SIGKILL) exits within a second instead of finishing the sweep as an orphan."""
  import threading
  import time
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  def watch():
    while os.getppid() == parent: time.sleep(0.5)
    os._exit(1)
  threading.Thread(target=watch, daemon=True).start()

def _stop(ex):
  """Stop a local pool now: pending points cancelled, running workers terminated (shutdown alone would wait for
  every queued point). Finished points are already stored; the next run resumes from them."""
  for p in list((getattr(ex, "_processes", None) or {}).values()): p.terminate()
  try: ex.shutdown(wait=False, cancel_futures=True)
  except TypeError: ex.shutdown(wait=False)       # a dask executor: no cancel_futures

class _sigterm_as_interrupt:
  """SIGTERM takes the Ctrl-C path (workers stopped, exit status 130) while a sweep runs in the main thread."""
  def __enter__(self):
    import threading
    self.old = signal.signal(signal.SIGTERM, _raise_interrupt) if threading.current_thread() is threading.main_thread() else None
  def __exit__(self, *exc):
    if self.old is not None: signal.signal(signal.SIGTERM, self.old)

def _raise_interrupt(signum, frame): raise KeyboardInterrupt

def _executor(jobs: int, scheduler: str | None):
  """A process pool on this machine, or a dask.distributed cluster's executor: the same futures API,
  and every result comes back here to be stored, so workers need no shared disk."""
  if not scheduler: return ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(os.getpid(),))
  try: from distributed import Client  # noqa: I001 (one-line optional import)
  except ImportError: raise SweepError("--scheduler needs dask.distributed: pip install -e .[dist]") from None
  try: client = Client(scheduler, timeout="5s")
  except OSError as e: raise SweepError(f"cannot reach the dask scheduler at {scheduler}: {e}") from None
  return client.get_executor()

def _synth_task(args):
  from ..rtl.fpga import FpgaError, synthesize
  base, over, target, fpga, root = args
  try: synthesize(load_config(base, **over), target, fpga["top"], fpga["imem_depth"], root, progress=False); return None
  except (ConfigError, FpgaError) as e: return str(e)

def _pnr_task(args):
  from ..rtl.fpga import FpgaError, run
  base, over, (target, freq), fpga, root = args
  try: return run(load_config(base, **over), target, freq, fpga["top"], fpga["imem_depth"], root, progress=False, seed=fpga["seed"])
  except (ConfigError, FpgaError) as e: return str(e)

def _fpga_sweep(ex, base: str, fpga: dict, todo: list, path_of, progress: bool, root: str | None):
  """Two rounds on the executor: one synthesis per design and family (device sizes and clocks share its netlist),
  then place and route per target and clock; as each build finishes, its points (one per workload: the model's
  cycles at the achieved Fmax) are stored."""
  from ..rtl.fpga import TARGETS, estimate, synth_command
  over_key = lambda over: json.dumps(sorted(over.items()))
  builds = {}                                      # (design, target, MHz) -> (overrides, (target, MHz), its points)
  for o, w, b in todo: builds.setdefault((over_key(o), *b), (o, b, []))[2].append(w)
  synths = {}                                      # one synthesis per design and yosys command: for a target it may fit
  for o, (t, _), _ in builds.values():
    try: fits = not estimate(load_config(base, **o), t, fpga["imem_depth"], memories=not fpga["top"].startswith("array"))
    except ConfigError: fits = False               # the point records the config's own error below
    if fits: synths.setdefault((over_key(o), synth_command(TARGETS[t], fpga["top"])), (o, t))
  models = {}
  def store(over, build, works, r):
    t, freq = build
    for w in works:
      rec = dict(base=base, params=over, workload=w, target=t, freq_mhz=freq, top=fpga["top"])
      try:
        if isinstance(r, str): raise SweepError(r)
        rec |= {k: r[k] for k in ("device", "family", "config", "fmax_mhz", "meets_freq", "fits", "resources", "critical_path", "seconds", "verilog_hash", "dir")}
        cfg = load_config(base, **over)
        rec |= dict(ok=True, peak_flops_per_s=peak_flops_per_s(r), flops_per_s=None, flops_per_s_per_usd=None)
        if w:
          if (k := (over_key(over), w)) not in models: models[k] = evaluate(cfg, w)[0]
          rec["perf"] = perf_per_usd(r, w, models[k], fpga["board_usd"].get(t))
          rec |= {k: rec["perf"][k] for k in ("flops_per_s", "flops_per_s_per_usd")}
      except (ConfigError, ValueError) as e: rec |= dict(ok=False, error=str(e))
      atomic_write(path_of((over, w, build)), json.dumps(rec))     # stored as soon as its build is done
  for label, task, args in (("synthesis", _synth_task, [(base, o, t, fpga, root) for o, t in synths.values()]),
                            ("place & route", _pnr_task, [(base, o, b, fpga, root) for o, b, _ in builds.values()])):
    futs = {ex.submit(task, a): a for a in args}
    for f in tqdm(as_completed(futs), total=len(futs), desc=f"sweep: {label}", disable=not progress):
      if task is _pnr_task: store(*builds[(over_key(futs[f][1]), *futs[f][2])], f.result())

def _stored(path: str) -> bool:
  """A complete point in the store: a JSON object with its ok flag (a torn write or a stray file is not)."""
  try:
    with open(path) as f: r = json.load(f)
    return isinstance(r, dict) and isinstance(r.get("ok"), bool)
  except (OSError, ValueError): return False

def run_sweep(path: str, out_dir: str, jobs: int | None = None, progress: bool = True, scheduler: str | None = None,
              fpga_root: str | None = None) -> dict:
  """Every point computed (or read from the store under out_dir); `fpga_root`: the FPGA build cache (build/fpga)."""
  s = load_sweep(path)
  base = s.get("system") or s.get("base", "edge")
  if "system" in s:
    from ..arch.system import load_system
    load_system(base)                     # a bad system fails now, with its one-line message
  else: load_config(base)                 # a bad base fails now, with its one-line message
  store = os.path.join(out_dir, "points"); os.makedirs(store, exist_ok=True)
  fpga = s.get("fpga")
  path_of = lambda pt: os.path.join(store, key(base, *pt, fpga) + ".json")
  pts = list({path_of(pt): pt for pt in points(s)}.values())     # duplicate grid points computed once
  todo = [pt for pt in pts if not _stored(path_of(pt))]            # a torn or foreign point file is computed again
  cached = len(pts) - len(todo)
  if todo:
    with _sigterm_as_interrupt():
      ex = _executor(jobs or os.cpu_count() or 1, scheduler)
      try:
        if fpga: _fpga_sweep(ex, base, fpga, todo, path_of, progress, fpga_root)
        else:
          futs = [ex.submit(_task, (base, over, w, path_of((over, w, b)))) for over, w, b in todo]
          for f in tqdm(as_completed(futs), total=len(futs), desc="sweep", disable=not progress):
            p, rec = f.result()
            atomic_write(p, json.dumps(rec))  # stored as soon as it is done: a kill loses nothing finished
      except BaseException: _stop(ex); raise
      ex.shutdown()
  results = [json.load(open(path_of(pt))) for pt in pts]
  atomic_write(os.path.join(out_dir, "results.json"), json.dumps(results))
  return dict(points=len(results), computed=len(todo), cached=cached, failed=sum(not r["ok"] for r in results), results=results)
