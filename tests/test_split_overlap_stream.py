"""split-overlap finds validation carved from training whatever the window and the row lengths
(issue #40, item 5): a nanoGPT-style loader draws its training rows at random offsets of the
training stream, so few rows hold a whole val window. Where the loader gives the stream
(``split_stream``), every window of it is indexed; where it does not, a val window is found when
each of its half-window pieces occurs in the rows drawn. Green on the same loader over held-out val.
"""

from __future__ import annotations

import pytest

from tests.redgreen import check, run_cases

CONFTEST = '''
import pytest

pytest_plugins = ["harness.demo.fixtures"]


@pytest.fixture
def rows_only_val_from_train(qwen_stdlib_pipeline):
    """The same planted loader, without ``split_stream``: only its batches can be read."""
    from harness.demo.loaders import RandomRowsValFromTrainLoader

    class RowsOnly(RandomRowsValFromTrainLoader):
        split_stream = None

    return RowsOnly(qwen_stdlib_pipeline)


@pytest.fixture
def rows_only_healthy(qwen_stdlib_pipeline):
    from harness.demo.loaders import RandomRowsLoader

    class RowsOnly(RandomRowsLoader):
        split_stream = None

    return RowsOnly(qwen_stdlib_pipeline)
'''

CASES = {
    "stream-red": "stdlib_loader_random_rows_val_from_train",
    "stream-green": "stdlib_loader_random_rows",
    "rows-red": "rows_only_val_from_train",
    "rows-green": "rows_only_healthy",
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("overlap-stream")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "conftest.py").write_text(CONFTEST)
    (root / "contracts").mkdir()
    for case, subject in CASES.items():
        (root / "contracts" / f"{case}.yaml").write_text(
            f"metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-{case.upper()}\n  test: builtin:split-overlap\n  subject: {subject}\n"
        )
    return run_cases(root, CASES)


def test_val_carved_from_the_training_stream_is_found_through_the_stream(outcomes):
    m = check(outcomes, "stream-red", "FALSIFIED", "also occur in the train stream")
    assert m["train_stream"] == 1.0 and m["overlap_share"] > 0.95 and m["piece"] == m["window"]


def test_val_carved_from_training_is_found_from_random_rows_by_its_pieces(outcomes):
    m = check(outcomes, "rows-red", "FALSIFIED", "also occur in the train batches")
    assert m["train_stream"] == 0.0 and m["piece"] < m["window"] and m["overlap_share"] > 0.05


@pytest.mark.parametrize("case", ["stream-green", "rows-green"])
def test_held_out_validation_stays_green_either_way(outcomes, case):
    assert check(outcomes, case, "DISCHARGED")["overlap_share"] < 0.05
