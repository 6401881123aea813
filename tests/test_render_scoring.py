"""Render stores (lossless, exact pixels, shared re-detections), the scoring engine and the per-pair score table."""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
import pandas as pd
import pytest

from flup.faces import weights
from flup.faces.detection import BOX_COLUMNS, LANDMARK_COLUMNS, Detector, central_face, landmarks_of
from flup.obfuscation import methods, render
from flup.verify import engine, recognition
from flup.verify.scored_set import ScoredSet
from flup.verify.scoring import FAILURE_SCORE, score_pairs
from tests.conftest import REPO


@pytest.fixture(scope="module")
def face(lfw_root):
    image = cv2.imread(str(lfw_root / "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0013.jpg"))
    return image, (85.3, 60.8, 170.2, 190.6)


@pytest.mark.parametrize(("kind", "level"), [
    ("blur", 8), ("blur", 24), ("pixelate", 8), ("blackbox", 1),
    ("deface", 1.3), ("face_gaussian", 0.5), ("face_pixelate", 0.1),  # deface reaches outside the face box
])
@pytest.mark.parametrize("codec", ["png", "webp"])
def test_lossless_store_gives_back_the_exact_obfuscated_pixels(tmp_path, face, kind, level, codec):
    image, box = face
    encoding = render.Encoding(codec)
    patch_box, data = render.render_one(image, box, kind, level, 1.0, encoding)
    path = tmp_path / "store.npz"
    render.save_store(path, ["x.jpg"], [patch_box], [data], encoding)
    restored = render.RenderStore(path).obfuscated("x.jpg", image)
    assert np.array_equal(restored, methods.apply(image, box, kind, level))
    assert not np.array_equal(restored, image)


@pytest.mark.parametrize("blur_border", ["crop", "context"])
def test_render_follows_the_blur_border_rule(tmp_path, face, blur_border):
    image, box = face
    encoding = render.Encoding("png")
    patch_box, data = render.render_one(image, box, "blur", 8, 1.2, encoding, blur_border)
    render.save_store(tmp_path / "s.npz", ["x.jpg"], [patch_box], [data], encoding)
    restored = render.RenderStore(tmp_path / "s.npz").obfuscated("x.jpg", image)
    assert np.array_equal(restored, methods.apply(image, box, "blur", 8, 1.2, blur_border))
    other = "context" if blur_border == "crop" else "crop"
    assert not np.array_equal(restored, methods.apply(image, box, "blur", 8, 1.2, other))


def test_identity_level_stores_nothing_and_jpeg_stores_whole_image(tmp_path, face):
    image, box = face
    patch_box, data = render.render_one(image, box, "blur", 0, 1.0, render.Encoding("png"))
    assert data == b"" and patch_box == (0, 0, 0, 0)
    jpeg = render.Encoding("jpeg", jpeg_quality=80)
    patch_box, data = render.render_one(image, box, "blur", 8, 1.0, jpeg)
    render.save_store(tmp_path / "j.npz", ["x.jpg"], [patch_box], [data], jpeg)
    restored = render.RenderStore(tmp_path / "j.npz").obfuscated("x.jpg", image)
    expected = methods.apply(image, box, "blur", 8)
    assert restored.shape == image.shape
    assert 0 < np.abs(restored.astype(int) - expected).mean() < 3  # lossy, but close
    with pytest.raises(ValueError, match="render.encoding"):
        render.Encoding("gif")


def test_store_loads_without_pickle(tmp_path, face):
    image, box = face
    encoding = render.Encoding("png")
    render.save_store(tmp_path / "s.npz", ["a.jpg"], [(0, 0, 0, 0)], [b""], encoding)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as archive:
        assert archive["names"].dtype.kind == "U"


def test_failure_scores_as_non_match_and_missing_sharp_face_is_excluded():
    pairs = pd.DataFrame({
        "pair_id": [0, 1, 2, 3], "fold": [0, 0, 0, 0], "label": [1, 1, 0, 0],
        "image_a": ["s1", "s2", "s3", "nofaceA"], "image_b": ["o1", "o2", "o3", "o4"],
    })
    sharp = {"s1": np.array([1.0, 0.0]), "s2": np.array([0.0, 1.0]), "s3": np.array([1.0, 0.0])}
    obfuscated = {"o1": np.array([0.6, 0.8]), "o2": None, "o3": np.array([-1.0, 0.0]), "o4": np.array([1.0, 0.0])}
    table = score_pairs(pairs, "a", sharp, obfuscated, dataset="lfw", protocol="view1", recognizer="arcface",
                        mode="end_to_end", obfuscation="blur", level=8.0)
    assert table["status"].tolist() == ["ok", "not_detected", "ok", "excluded"]
    assert table["score"].iloc[:3].tolist() == pytest.approx([0.6, FAILURE_SCORE, -1.0])
    assert np.isnan(table["score"].iloc[3])
    assert (table["recognizer"] == "arcface").all() and (table["level"] == 8.0).all()


def test_png_patches_are_fast_lossless_png():
    patch = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    data = render.Encoding("png").encode(patch)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), patch)


def test_store_keeps_the_re_detections_and_refuses_an_old_store(tmp_path):
    points = np.arange(10, dtype=np.float64).reshape(5, 2) + 0.25
    encoding = render.Encoding("png")
    render.save_store(tmp_path / "s.npz", ["a.jpg", "b.jpg"], [(0, 0, 0, 0)] * 2, [b"", b""], encoding, [points, None])
    store = render.RenderStore(tmp_path / "s.npz")
    assert np.array_equal(store.landmarks("a.jpg"), points) and store.landmarks("b.jpg") is None
    with open(tmp_path / "old.npz", "wb") as handle:  # a store written before re-detections were kept
        np.savez(handle, names=np.array(["a.jpg"]), boxes=np.zeros((1, 4), np.int32), offsets=np.zeros(2, np.int64),
                 payload=np.zeros(0, np.uint8), encoding=np.array("png"))
    with pytest.raises(ValueError, match="without re-detecting faces.*rerun"):
        render.RenderStore(tmp_path / "old.npz").landmarks("a.jpg")


def test_in_batches_keeps_order_and_batch_size():
    seen = []

    def embed(chunk):
        seen.append(len(chunk))
        return np.array([[float(x)] for x in chunk])

    out = engine.in_batches(embed, list(range(10)), 4)
    assert out[:, 0].tolist() == list(range(10)) and seen == [4, 4, 2]
    assert engine.in_batches(embed, [], 4).shape == (0, 512)
    with pytest.raises(ValueError, match="batch size"):
        engine.in_batches(embed, [1], 0)


def test_deduplicated_embeds_each_distinct_crop_once_and_forgets_finished_levels():
    calls = []

    def embed(crops):
        calls.append(len(crops))
        return np.stack([c.reshape(-1)[:3].astype(np.float32) for c in crops])

    rng = np.random.default_rng(0)
    a, b, c = (rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(3))
    dedup = engine.Deduplicated(embed)
    assert np.array_equal(dedup([a, b, a.copy()]), embed([a, b, a]))
    dedup.keep()
    calls.clear()
    assert np.array_equal(dedup([b, c, c]), embed([b, c, c]))
    assert calls[0] == 1  # only c was new
    dedup.release()
    assert len(dedup.known) == 2  # a and b kept, c forgotten


@pytest.mark.slow  # seconds: trains, renders or draws
def test_onnx_arcface_gives_each_crop_the_same_bits_in_any_batch_and_thread_count():
    """What lets the engine regroup, deduplicate and parallelise ArcFace without changing a score."""
    path = weights.resolve("recognizer", "w600k_mbf", "~")
    crops = list(np.random.default_rng(1).integers(0, 256, (40, 112, 112, 3), dtype=np.uint8))
    one_run = recognition.ArcFace(path, threads=1)  # the whole batch in one single-threaded run
    reference = one_run.embed(crops)
    assert np.array_equal(np.concatenate([one_run.embed([c]) for c in crops]), reference)
    assert np.array_equal(one_run.embed(crops[::-1])[::-1], reference)
    assert np.array_equal(engine.in_batches(one_run.embed, crops, 3), reference)
    for parts in (2, 3):  # the batch split over concurrent runs
        assert np.array_equal(recognition.ArcFace(path, threads=parts).embed(crops), reference)


# --- the engine against a brute-force reference ------------------------------------------------------


def _cell_colours(crops):
    """A stand-in recogniser: a crop's mean colour per 16x16 cell, unit length (every pixel block counts)."""
    rows = np.stack([c.reshape(7, 16, 7, 16, 3).mean(axis=(1, 3)).reshape(-1) for c in crops]).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def mini_study(tmp_path_factory, lfw_root):
    """Six LFW images detected for real, three pairs, rendered at three levels with the real detector."""
    folder = lfw_root / "lfw-deepfunneled"
    names = [f"{p.name}/{sorted(p.glob('*.jpg'))[0].name}" for p in sorted(folder.iterdir())[:6]]
    detector_path = weights.resolve("detector", "scrfd_500m", "~")
    detector = Detector(detector_path, 320, 0.5)
    rows = []
    for name in names:
        image = cv2.imread(str(folder / name))
        faces = detector.detect(image)
        face = faces[central_face(faces, image.shape)]
        rows.append({"image": name, "status": "ok", "face_rule": "central",
                     **dict(zip(BOX_COLUMNS, face.box, strict=True)),
                     **dict(zip(LANDMARK_COLUMNS, face.landmarks.reshape(-1), strict=True))})
    faces = pd.DataFrame(rows).set_index("image", drop=False)
    pairs = pd.DataFrame({"pair_id": [0, 1, 2], "fold": [0, 0, 0], "label": [1, 0, 0],
                          "image_a": names[:3], "image_b": names[3:]})
    # (obfuscation, level, region): the last one over a 1.5x face box, scored like the others
    tasks = [("blur", 0.0, 1.0), ("blur", 24.0, 1.0), ("pixelate", 8.0, 1.0), ("pixelate", 8.0, 1.5)]
    out = tmp_path_factory.mktemp("render")
    jobs = [(n, tuple(faces.loc[n, BOX_COLUMNS]), faces.loc[n].to_dict()) for n in names[3:]]
    finder = partial(engine.FaceFinder, detector_path, 320, 0.5, 1)
    render.render_levels(tasks, jobs, folder, out, render.Encoding("png"), 1, finder)
    pd.DataFrame({"image": names[3:], "status": "ok"}).to_csv(out / "manifest.csv", index=False)
    (out / "summary.json").write_text(
        '{"levels": [' + ", ".join(f'{{"obfuscation": "{k}", "level": {v}, "region": {r}}}' for k, v, r in tasks)
        + "]}")
    return folder, out, ScoredSet({"view1": pairs}, "a", faces.drop(columns="image"), names[:3]), tasks, detector


def test_render_stores_what_the_detector_finds_in_the_obfuscated_image(mini_study):
    folder, out, test, tasks, detector = mini_study
    for kind, level, region in tasks:
        store = render.RenderStore(render.store_path(out, kind, level, region))
        for name in test.pairs["view1"]["image_b"]:
            sharp = cv2.imread(str(folder / name))
            obfuscated = methods.apply(sharp, tuple(test.faces.loc[name, BOX_COLUMNS]), kind, level, region)
            assert np.array_equal(store.obfuscated(name, sharp), obfuscated)
            expected, found = recognition.redetect(detector, obfuscated, test.faces.loc[name]), store.landmarks(name)
            assert (found is None) == (expected is None)
            assert found is None or np.array_equal(found, expected)


def test_engine_scores_equal_a_brute_force_reference(mini_study):
    """Every score recomputed directly: obfuscate, detect (or take the sharp landmarks), align, embed, dot."""
    folder, out, test, tasks, detector = mini_study
    recognizer = engine.Recognizer("stand-in", _cell_colours, _cell_colours, batch_size=2)
    table = engine.score_rendered(test, folder, out, "lfw", recognizer, ["oracle_box", "end_to_end"])
    assert len(table) == len(tasks) * 2 * 3
    by_id = test.pairs["view1"].set_index("pair_id")
    for row in table.itertuples():
        pair = by_id.loc[row.pair_id]
        sharp = cv2.imread(str(folder / pair.image_a))
        sharp_vector = _cell_colours([recognition.align(sharp, landmarks_of(test.faces.loc[pair.image_a]))])[0]
        image = methods.apply(cv2.imread(str(folder / pair.image_b)),
                                  tuple(test.faces.loc[pair.image_b, BOX_COLUMNS]), row.obfuscation, row.level,
                                  row.region)
        landmarks = (landmarks_of(test.faces.loc[pair.image_b]) if row.mode == "oracle_box"
                     else recognition.redetect(detector, image, test.faces.loc[pair.image_b]))
        if landmarks is None:
            assert (row.status, row.score) == ("not_detected", FAILURE_SCORE)
            continue
        expected = float(np.dot(sharp_vector, _cell_colours([recognition.align(image, landmarks)])[0]))
        assert row.status == "ok" and row.score == expected
    assert set(table["status"]) == {"ok", "not_detected"}  # sigma 24 hides some faces from the detector


def test_saved_embeddings_are_reused_for_the_same_model_only(tmp_path):
    rng = np.random.default_rng(2)
    a, b = (rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(2))
    computed = []

    def embed(crops):
        computed.extend(crops)
        return np.stack([np.full(512, float(c[0, 0, 0]), dtype=np.float32) for c in crops])

    first = engine.Deduplicated(embed, record=True)
    first([a, b])
    first.save(tmp_path / "e.npz", "model.onnx:abc")
    computed.clear()
    again = engine.Deduplicated(embed, known=engine.load_embeddings(tmp_path / "e.npz", "model.onnx:abc"))
    assert np.array_equal(again([b, a]), embed([b, a])[:2]) and len(computed) == 2  # only the check above
    assert engine.load_embeddings(tmp_path / "e.npz", "other.onnx:def") == {}


@pytest.mark.slow  # seconds of training or of writing every profile
def test_dual_stream_scores_equal_one_pass_in_the_same_batches(mini_study, monkeypatch):
    """A dual-stream model scored by the engine (its recogniser: policy crops, SharpNet and BlurNet), in blocks (one
    batch each here) and prefetched, gives the numbers of embedding each side in one pass, batch by batch."""
    import torch

    from flup.models import embedding, model
    from flup.models.sampling import Policy

    folder, out, test, tasks, _ = mini_study
    monkeypatch.setattr(engine, "SHARP_BLOCK", 1)
    net = model.build_dual_stream("gap", 64, "none").eval()
    policy = Policy("tight", "face_box")
    with torch.no_grad():
        table = engine.score_rendered(test, folder, out, "lfw", embedding.recognizer("m", policy, 64, 2, net),
                                      ["oracle_box"])
        boxes = {n: tuple(test.faces.loc[n, BOX_COLUMNS]) for n in test.faces.index}
        sharp_names = test.sharp_images
        sharp = embedding.embed(net, [cv2.imread(str(folder / n)) for n in sharp_names],
                                [boxes[n] for n in sharp_names], policy, 64, "sharp", batch_size=2)
        names = list(test.pairs["view1"]["image_b"])
        for kind, level, region in tasks:
            images = [methods.apply(cv2.imread(str(folder / n)), boxes[n], kind, level, region) for n in names]
            blurred = embedding.embed(net, images, [boxes[n] for n in names], policy, 64, "blurred", batch_size=2)
            rows = table[(table["obfuscation"] == kind) & (table["level"] == level)
                         & (table["region"] == region)].set_index("pair_id")
            for pair in test.pairs["view1"].itertuples():
                expected = float(np.dot(sharp[sharp_names.index(pair.image_a)], blurred[names.index(pair.image_b)]))
                assert rows.loc[pair.pair_id, "score"] == expected


def test_a_recogniser_that_crops_by_the_box_is_not_scored_end_to_end(mini_study):
    # A dual-stream model crops around the sharp image's face box; end to end has only re-detected landmarks.
    from flup.models import embedding, model
    from flup.models.sampling import Policy

    folder, out, test, _, _ = mini_study
    dual = embedding.recognizer("m", Policy("tight", "face_box"), 64, 2, model.build_dual_stream("gap", 64, "none"))
    with pytest.raises(ValueError, match="oracle_box threat model only"):
        engine.score_rendered(test, folder, out, "lfw", dual, ["oracle_box", "end_to_end"])


def test_a_store_rendered_without_re_detection_refuses_the_end_to_end_threat_model(tmp_path):
    encoding = render.Encoding("png")
    image = np.full((40, 40, 3), 120, np.uint8)
    patch_box, data = render.render_one(image, (10, 10, 30, 30), "blur", 4.0, 1.0, encoding)
    render.save_store(tmp_path / "s.npz", ["x.jpg"], [patch_box], [data], encoding, redetected=False)
    store = render.RenderStore(tmp_path / "s.npz")
    np.testing.assert_array_equal(store.obfuscated("x.jpg", image)[10:30, 10:30], image[10:30, 10:30])  # flat: same
    with pytest.raises(ValueError, match="end_to_end in arcface.modes or attack.modes"):
        store.landmarks("x.jpg")


def test_render_re_detects_only_when_a_threat_model_reads_it():
    from flup.config import load_config
    from flup.pipeline.render import redetects

    cfg = load_config(REPO / "params.yaml")
    assert cfg.arcface.modes == ["oracle_box"] and not redetects(cfg)  # the default: the oracle box only
    assert redetects(cfg.model_copy(update={"arcface": cfg.arcface.model_copy(update={"modes": ["end_to_end"]})}))
    assert redetects(cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"modes": ["end_to_end"]})}))
