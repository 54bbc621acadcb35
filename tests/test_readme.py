"""README figures come from benchmarks/results/ of the current code: every table row the
benchmark scripts wrote appears in the README, character for character."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@pytest.mark.parametrize("name", ["accuracy.md", "throughput.md", "fpga.md"])
def test_readme_tables_are_the_benchmark_results(name):
    readme = ROOT.joinpath("README.md").read_text()
    rows = [line for line in (RESULTS / name).read_text().splitlines() if line.startswith("|")]
    assert rows, f"{name} holds no table"
    missing = [r for r in rows if r not in readme]
    assert not missing, f"README.md does not show these rows of benchmarks/results/{name}:\n" + "\n".join(missing)
