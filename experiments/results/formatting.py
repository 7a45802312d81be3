"""Cells as text: a mean ± std, a terminal or Markdown table, CSV."""
import csv
import io


def format_stat(mean, std):
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def text_table(rows, headers, fmt):
    """A terminal ("table") or Markdown ("markdown") table of string cells."""
    from tabulate import tabulate  # imported here: the scripts' --check calls stay quick
    if fmt == "markdown":  # a bare '|' in |D_forget| would split a Markdown cell
        headers = [h.replace("|", "\\|") for h in headers]
        rows = [[str(v).replace("|", "\\|") for v in row] for row in rows]
    return tabulate(rows, headers=headers, disable_numparse=True,
                    tablefmt="github" if fmt == "markdown" else "simple")


def csv_text(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().rstrip("\n")


def seed_list(runs) -> str:
    """The runs' seeds, ascending, comma-separated."""
    return ",".join(str(r.seed) for r in sorted(runs, key=lambda r: r.seed))
