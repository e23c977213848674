import io

from tqdm import tqdm

from eqv2.progress import LinePerRefresh, progress_bar


def test_each_refresh_is_a_whole_line():
    stream = io.StringIO()
    with tqdm(total=3, desc="relax", file=LinePerRefresh(stream), mininterval=0, miniters=1) as bar:
        for _ in range(3):
            bar.set_postfix_str("1 failed", refresh=False)
            bar.update(1)
    lines = stream.getvalue().split("\n")
    assert "\r" not in stream.getvalue() and lines[-1] == ""
    assert [line.split()[0] for line in lines[:-1]] == ["relax:"] * len(lines[:-1])
    assert "3/3" in lines[-2] and lines[-2].endswith("1 failed]")


def test_lines_come_at_most_every_mininterval_and_at_the_end():
    stream = io.StringIO()
    with tqdm(total=100, initial=40, desc="train", file=LinePerRefresh(stream), mininterval=3600, miniters=1) as bar:
        for _ in range(60):
            bar.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "40/100" in lines[0] and "100/100" in lines[1]


def test_a_bar_into_a_log_file_writes_whole_lines(capsys):
    with progress_bar(50, "train", "step", initial=10) as bar:  # pytest's stderr is not a terminal
        for _ in range(40):
            bar.update(1)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line.split()[0] for line in err.splitlines()] == ["train:", "train:"]
    assert "50/50" in err.splitlines()[-1]
