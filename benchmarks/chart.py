"""Draw results/latest.png from results/latest.json (run by run.py in the tools virtualenv,
so matplotlib never becomes a project dependency)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import METRICS, cell_values

COLORS = ["#c0392b", "#e67e22", "#2980b9", "#27ae60", "#8e44ad", "#7f8c8d", "#95a5a6",
          "#16a085", "#d35400", "#2c3e50", "#f1c40f", "#bdc3c7"]  # fmt: skip


def main(out: Path) -> None:
    data = json.loads((out / "latest.json").read_text())
    libs: dict[str, str] = data["libraries"]
    cells = cell_values(data)
    fig, axes = plt.subplots(3, 3, figsize=(18, 14))
    for ax, (key, m) in zip(axes.flat, METRICS.items(), strict=False):
        labels, values, colors = [], [], []
        for i, (lib, label) in enumerate(libs.items()):
            v = cells[key].get(lib)
            labels.append(label)
            values.append(v if isinstance(v, float) else 0.0)
            colors.append(COLORS[i % len(COLORS)])
        bars = ax.bar(range(len(values)), values, color=colors)
        for bar, lib in zip(bars, libs, strict=True):
            v = cells[key].get(lib)
            text = f"{v:,.{m.digits}f}" if isinstance(v, float) else str(v or "-")
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)  # fmt: skip
        if key.startswith("lat_") and any(v > 0 for v in values):
            ax.set_yscale("log")  # arq's 0.5 s poll would flatten everyone else
        better = "higher" if m.higher_better else "lower"
        ax.set_title(f"{m.title}\n{m.unit} ({better} is better)", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, fontsize=6.5, rotation=40, ha="right")
        ax.tick_params(axis="y", labelsize=7)
    env = data["environment"]
    fig.suptitle(
        f"rq_stream vs peers ({data['mode']} run, median of {data['params']['reps']}): "
        f"{env['cpu_count']} CPUs, Redis {env['redis']}, Python {env['python']}, {env['date']}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out / "latest.png", dpi=90)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
