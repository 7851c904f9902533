import pytest

from tinyaccel.arch.config import ConfigError, from_dict, load_config, presets


def test_presets_load_and_match_the_issue():
  assert presets() == ["decode", "edge", "petaflop", "server", "tiny"]
  d = load_config("decode")                              # docs/llm.md: weights shift in at the full DRAM rate
  assert (d.rows, d.cols, d.dataflow, d.cores, d.dram_channels) == (64, 256, "ws", 2, 1) and d.cols == d.dram_bytes_per_cycle
  t, e, s = (load_config(p) for p in ("tiny", "edge", "server"))
  assert (t.rows, t.cols) == (4, 4) and (e.rows, e.cols) == (32, 32) and (s.rows, s.cols) == (128, 128)
  assert e.spad_kib == 512 and e.memory_type.startswith("lpddr") and s.memory_type.startswith("hbm")
  assert s.spad_kib + s.acc_kib >= 10 * 1024            # tens of MiB of SRAM
  assert e.spad_lines == 512 * 1024 // 32 and e.acc_lines == 256 * 1024 // 128
  assert e.peak_flops_per_s == 2 * 32 * 32 * 800e6

def test_path_and_overrides(tmp_path):
  p = tmp_path / "mine.toml"; p.write_text('rows = 8\ncols = 8\nspad_kib = 16\nacc_kib = 16\n')
  cfg = load_config(str(p), dataflow="os")
  assert (cfg.name, cfg.rows, cfg.dataflow) == ("mine", 8, "os")

# each rule: (overrides, words the one-line message must contain)
RULES = [
  (dict(rows=0), "rows=0"), (dict(cols=300), "cols=300"), (dict(dataflow="rs"), "dataflow"),
  (dict(input_dtype="bf16"), "input_dtype"), (dict(acc_dtype="int16"), "acc_dtype"),
  (dict(spad_kib=0), "spad_kib"), (dict(spad_banks=1), "spad_banks"), (dict(acc_banks=3), "acc_banks"),
  (dict(spad_kib=3, rows=16, cols=16, acc_kib=16, spad_banks=5), "spad_banks"),   # 192 lines do not split into 5 banks
  (dict(rows=48, cols=48, spad_kib=1, acc_kib=3), "whole number"),                   # 1 KiB is not whole 48-byte lines
  (dict(dram_bytes_per_cycle=0), "dram_bytes_per_cycle"), (dict(dram_bytes_per_cycle=64), "dram_bytes_per_cycle"),
  (dict(dram_burst_bytes=6), "dram_burst_bytes"), (dict(dram_latency_cycles=0), "dram_latency_cycles"),
  (dict(dram_bytes_per_cycle=12, dram_burst_bytes=8), "dram_bytes_per_cycle"),
  (dict(memory_type="sram"), "memory_type"), (dict(memory_gib=0.0), "memory_gib"), (dict(clock_mhz=0.0), "clock_mhz"),
  (dict(process_nm=6), "process_nm"), (dict(vector_lanes=0), "vector_lanes"), (dict(rows="4"), "rows"),
  (dict(spad_kib=2048), "address"), (dict(rows=256, cols=256, spad_kib=64, acc_kib=64, dram_bytes_per_cycle=4), None),
]

@pytest.mark.parametrize("over,words", RULES)
def test_every_rule_rejects_with_one_line(over, words):
  base = load_config("tiny").to_dict(); base.pop("name")
  if words is None:                                        # the largest legal array still validates
    from_dict({**base, **over}, "t"); return
  with pytest.raises(ConfigError) as e: from_dict({**base, **over}, "t")
  msg = str(e.value)
  assert words in msg and "\n" not in msg and msg.startswith("config t:")

def test_unknown_field_unknown_preset_malformed_toml(tmp_path):
  with pytest.raises(ConfigError, match="unknown field 'rowz'"): from_dict({"rowz": 4})
  with pytest.raises(ConfigError, match="not a preset"): load_config("nope")
  bad = tmp_path / "bad.toml"; bad.write_text("rows = = 4\n")
  with pytest.raises(ConfigError, match="malformed TOML"): load_config(str(bad))
