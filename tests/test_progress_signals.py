"""Long runs show progress on a terminal only (and not with --quiet); a sweep stopped by Ctrl-C, SIGTERM or SIGKILL
leaves no worker process behind."""
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest


def tinyaccel_on_tty(*args):
  """stderr on a pseudo-terminal of 120 columns (a fresh pty has 0, and tqdm draws nothing at width 0)."""
  m, s = pty.openpty()
  fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
  p = subprocess.Popen([sys.executable, "-m", "tinyaccel.cli", *args], stdout=subprocess.PIPE, stderr=s, text=True); os.close(s)
  err = b""
  while True:
    try: d = os.read(m, 65536)
    except OSError: break              # EIO: the child closed the terminal
    if not d: break
    err += d
  out = p.stdout.read(); p.wait(); os.close(m)
  return p.returncode, out, err.decode(errors="replace")

def test_network_run_shows_kernel_progress_on_a_terminal_only():
  rc, out, err = tinyaccel_on_tty("run", "mlp", "--config", "edge")
  assert rc == 0 and "mlp on edge:" in err and "0/2" in err and "kernel/s" in err and "inferences/s" in out
  rc, out, err = tinyaccel_on_tty("run", "mlp", "--config", "edge", "--quiet")
  assert rc == 0 and err == "" and "inferences/s" in out
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", "mlp", "--config", "edge"], capture_output=True, text=True)   # not a terminal
  assert p.returncode == 0 and p.stderr == ""

def test_spinner_draws_elapsed_seconds_and_clears(capsys):
  from tinyaccel.helpers import Spinner
  with Spinner("Verilog of tiny", True): time.sleep(1.2)
  err = capsys.readouterr().err
  assert re.fullmatch(r"(\rVerilog of tiny: [01] s){2}\r\x1b\[K", err), repr(err)           # redrawn at 0.5 s and 1 s, then cleared
  with Spinner("Verilog of tiny", False): time.sleep(0.6)
  assert capsys.readouterr().err == ""

SLOW_SWEEP = '''base = "tiny"
[params]
array = [4, 8]
spad_kib = [16, 32, 64]
[workloads]
gemm = ["512x512x512"]
'''

def _descendants(pid: int) -> set[int]:
  kids = {}
  for d in os.listdir("/proc"):
    if d.isdigit():
      try: kids.setdefault(int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
      except (OSError, IndexError): pass
  out, todo = set(), [pid]
  while todo: todo += [c for c in kids.get(todo.pop(), []) if c not in out and not out.add(c)]
  return out

def _alive(pids) -> set[int]:
  def up(p):
    try: return open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError: return False
  return {p for p in pids if up(p)}

@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers through /proc")
@pytest.mark.parametrize("sig,group", [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGKILL, False)])
def test_stopped_sweep_leaves_no_workers(tmp_path, sig, group):
  """Ctrl-C (SIGINT to the whole process group, as a terminal sends it), SIGTERM and SIGKILL to the parent alone:
  every worker is gone within a few seconds, and the parent exits 130 where it can run its handler."""
  f = tmp_path / "s.toml"; f.write_text(SLOW_SWEEP)
  p = subprocess.Popen([sys.executable, "-m", "tinyaccel.cli", "sweep", str(f), "-o", str(tmp_path / "out"), "-j", "2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
  deadline = time.time() + 60
  while time.time() < deadline and len(_descendants(p.pid)) < 2: time.sleep(0.05)
  workers = _descendants(p.pid)
  assert len(workers) >= 2, "the sweep's workers never started"
  time.sleep(0.5)                                        # the workers are inside their points now
  (os.killpg if group else os.kill)(p.pid, sig)
  rc = p.wait(30); err = p.stderr.read()
  deadline = time.time() + 10
  while time.time() < deadline and _alive(workers): time.sleep(0.1)
  try: assert not _alive(workers), f"orphan workers after {sig!r}: {_alive(workers)}"
  finally:
    for w in _alive(workers): os.kill(w, signal.SIGKILL)
  if sig != signal.SIGKILL: assert rc == 130 and err.strip().splitlines() == ["tinyaccel: interrupted"], err
