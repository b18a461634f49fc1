"""The Blocks layout: Animate, Dataset and Annotate tabs, and the named API endpoints ``/animate`` and ``/annotate``.

Heavy work (generating, annotating, opening a dataset) shares one queue slot (``concurrency_id="cpu"``,
``concurrency_limit=1``), so CPU jobs run one at a time and later requests see their place in the queue. Handlers
turn expected failures into a ``gr.Error`` carrying the one-line message; anything unexpected is logged with its
traceback on the server and shown in the page as one line, and the server goes on serving.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import time

import gradio as gr

from interanimate.app import datasets as ds
from interanimate.app import jobs
from interanimate.app.errors import AppInputError
from interanimate.app.paths import SafePaths
from interanimate.app.renderers import RENDERERS, PipelineCache, renderer_names
from interanimate.app.settings import AppSettings
from interanimate.taxonomy import FAMILIES, FAMILY_DESCRIPTIONS, PATTERN_NAMES, patterns_in_family

log = logging.getLogger("interanimate.app")
CPU = {"concurrency_id": "cpu", "concurrency_limit": 1}
LIGHT = {"concurrency_limit": None}
TITLE = "InterAnimate"


def _expected_errors() -> tuple[type[BaseException], ...]:
    from interanimate.data.annotate import AnnotateError
    from interanimate.data.annotations import AnnotationFormatError
    from interanimate.data.io import VideoReadError
    from interanimate.data.manifest import DatasetFormatError
    from interanimate.pipelines.errors import AnimateError
    from interanimate.taxonomy import UnknownNameError

    return (AppInputError, AnimateError, AnnotateError, DatasetFormatError, AnnotationFormatError, VideoReadError,
            UnknownNameError)


@contextlib.contextmanager
def shown_in_page(task: str):
    """Expected failures become the page's error message; unexpected ones too, with the traceback in the log."""
    try:
        yield
    except gr.Error:
        raise
    except _expected_errors() as err:
        raise gr.Error(html.escape(str(err), quote=False), title=f"Cannot {task}", print_exception=False) from None
    except Exception as err:  # the server must survive any failed job
        log.exception("%s failed", task)
        message = f"{task} failed: {type(err).__name__}: {err} (the server log has the details)"
        raise gr.Error(html.escape(message, quote=False), title=f"Cannot {task}", print_exception=False) from None


def _gradio_progress(progress: gr.Progress):
    def report(fraction: float, text: str) -> None:
        progress(fraction, desc=text)

    return report


def write_sample_photos(settings: AppSettings) -> list[str]:
    """Licence-clean sample references: scikit-image's astronaut (NASA, public domain)."""
    from skimage import data as skdata

    from interanimate.data.images import write_png

    path = settings.temp_dir / "samples" / "astronaut.png"
    if not path.is_file():
        write_png(skdata.astronaut(), path)
    return [str(path)]


class InterAnimateApp:
    """The handlers of one app server (state: settings, the loaded pipelines, the path checker)."""

    def __init__(self, settings: AppSettings):
        self.settings = settings
        self.paths = SafePaths(settings.root, settings.temp_dir)
        self.pipelines = PipelineCache(settings.checkpoint)

    # ------------------------------------------------------------------------------------------ animate

    def animate_outcome(self, photo, patterns, renderer, frames, seed, steps, driving, progress) -> jobs.AnimateOutcome:
        started = time.time()
        outcome = jobs.animate(self.settings, self.pipelines, photo, patterns, renderer, int(frames or 0),
                               int(seed or 0), int(steps or 0) or None, driving, _gradio_progress(progress))
        outcome.summary.update({"started": started, "finished": time.time()})
        return outcome

    def animate_page(self, photo, all_patterns, poke, pinch, stroke, swipe, driving, renderer, frames, seed, steps,
                     show_labels, progress=gr.Progress(track_tqdm=True)):
        patterns = ["all"] if all_patterns else [p for group in (poke, pinch, stroke, swipe) for p in (group or [])]
        with shown_in_page("animate"):
            outcome = self.animate_outcome(photo, patterns, renderer, frames, seed, steps, driving, progress)
            clips = {c.name: {"video": str(c.video), "overlay": str(c.overlay), "timeline": str(c.timeline)}
                     for c in outcome.clips}
            first = outcome.clips[0]
            downloads = [str(p) for c in outcome.clips for p in (c.video, c.labels, c.info)]
            downloads.append(str(outcome.dataset_zip))
            shown = str(first.overlay if show_labels else first.video)
            text = "; ".join(f"**{c.name}**: {c.num_frames} frames, contact in {c.contact_frames}"
                             for c in outcome.clips)
            return (gr.update(value=shown), str(first.timeline), downloads, clips,
                    gr.update(choices=list(clips), value=first.name), f"Generated {len(outcome.clips)} clip(s): {text}")

    @staticmethod
    def show_clip(clips: dict, name: str, show_labels: bool):
        if not clips or name not in clips:
            return gr.update(), gr.update()
        clip = clips[name]
        return clip["overlay" if show_labels else "video"], clip["timeline"]

    def animate_api(self, photo, patterns, renderer, frames, seed, steps, progress=gr.Progress(track_tqdm=True)):
        with shown_in_page("animate"):
            outcome = self.animate_outcome(photo, patterns, renderer, frames, seed, steps, None, progress)
            first = outcome.clips[0]
            record = json.loads(first.info.read_text(encoding="utf-8"))
            record["app"] = outcome.summary
            record = jobs.public_record(record, self.settings.root)
            return str(first.video), str(first.labels), record, str(outcome.dataset_zip)

    # ------------------------------------------------------------------------------------------ annotate

    def annotate_page(self, video, mirrored, progress=gr.Progress(track_tqdm=True)):
        with shown_in_page("annotate"):
            outcome = jobs.annotate(self.settings, video, bool(mirrored), _gradio_progress(progress))
            record = outcome.record
            clip = next((c for c in record["clips"] if c["clip_id"] == record.get("shown_clip")), None)
            if clip is None:
                verdict = f"No clip kept: {record['message'] or record['reason']}."
            elif clip["pattern"]:
                verdict = (f"Recognised **{clip['pattern']}** with confidence {clip['confidence']:.0%} "
                           f"(frames {clip['start']}-{clip['end']}, contact in {clip['contact_frames']}).")
            else:
                verdict = f"No pattern recognised (frames {clip['start']}-{clip['end']})."
            verdict += f" {len(record['clips'])} clip(s) written, {len(record['rejected_clips'])} refused."
            return (None if outcome.overlay is None else str(outcome.overlay),
                    None if outcome.timeline is None else str(outcome.timeline), verdict, record,
                    None if outcome.dataset_zip is None else str(outcome.dataset_zip))

    def annotate_api(self, video, mirrored, progress=gr.Progress(track_tqdm=True)):
        with shown_in_page("annotate"):
            return jobs.annotate(self.settings, video, bool(mirrored), _gradio_progress(progress)).record

    # ------------------------------------------------------------------------------------------ dataset

    def dataset_choices(self):
        return gr.update(choices=ds.find_datasets(self.paths))

    def open_dataset(self, name, progress=gr.Progress()):
        from interanimate.data.stats import compute_stats, format_table, plot_stats
        from interanimate.data.validate import validate_dataset

        with shown_in_page("open the dataset"):
            root = ds.open_dataset(self.paths, name)
            progress(0.1, desc="reading the manifest")
            rows = ds.clip_rows(root)
            progress(0.3, desc="statistics")
            stats = compute_stats(root)
            chart = plot_stats(stats, jobs.new_job_dir(self.settings, "stats") / "stats.png")
            progress(0.5, desc="validating")
            report = validate_dataset(root)
            if report.ok:
                validation = f"OK: all {report.num_clips} clips valid ({report.seconds:.2f} s)"
            else:
                lines = [str(v) for v in report.violations[:200]]
                more = len(report.violations) - len(lines)
                head = (f"FAILED: {len(report.violations)} violations in {len(report.by_clip())} of "
                        f"{report.num_clips} clips")
                validation = "\n".join([head, *lines] + ([f"... and {more} more"] if more else []))
            patterns = sorted({r.pattern for r in rows}, key=lambda p: (PATTERN_NAMES + (p,)).index(p))
            splits = sorted({r.split for r in rows})
            flags = sorted({f for r in rows for f in r.flags.split(", ") if f})
            rejects = ds.read_rejects(root)
            table = [r.values() for r in rows]
            state = {"root": self.paths.relative(root), "rows": [r.__dict__ for r in rows]}
            return (state, table, gr.update(choices=[ds.ANY] + patterns, value=ds.ANY),
                    gr.update(choices=[ds.ANY] + splits, value=ds.ANY),
                    gr.update(choices=[ds.ANY, "clean"] + flags, value=ds.ANY), "", ds.ANY,
                    gr.update(choices=[r.clip_id for r in rows], value=rows[0].clip_id if rows else None),
                    str(chart), "```\n" + format_table(stats) + "\n```", validation, rejects or [["", "", "", ""]])

    @staticmethod
    def filter_table(state, pattern, split, subject, contact, flag):
        if not state:
            return [], gr.update(choices=[])
        rows = ds.filter_rows([ds.ClipRow(**r) for r in state["rows"]], pattern, split, subject, contact, flag)
        ids = [r.clip_id for r in rows]
        return [r.values() for r in rows], gr.update(choices=ids, value=ids[0] if ids else None)

    @staticmethod
    def clip_from_table(table, evt: gr.SelectData):
        try:
            return table.iloc[evt.index[0], 0] if hasattr(table, "iloc") else table[evt.index[0]][0]
        except (IndexError, KeyError, TypeError):
            return gr.update()

    def view_clip(self, state, clip_id, show_labels, progress=gr.Progress()):
        from interanimate.data.annotations import load_annotations
        from interanimate.data.io import decode_video

        if not state or not clip_id:
            return None, None, None
        with shown_in_page("show the clip"):
            root = ds.open_dataset(self.paths, state["root"])
            record, video, annotations = ds.clip_files(root, clip_id)
            ann = load_annotations(annotations, record.height, record.width)
            job = jobs.new_job_dir(self.settings, "clip")
            shown = video
            if show_labels:
                from interanimate.app.overlay import overlay_frames

                shown = jobs.write_video(overlay_frames(decode_video(video), ann), record.fps, job / f"{clip_id}.mp4")
            from interanimate.app.overlay import plot_contact_timeline

            timeline = plot_contact_timeline(ann, record.fps, job / "contact.png",
                                             title=f"{clip_id}: {record.pattern or 'unlabelled'}")
            facts = jobs.public_record({"clip_id": record.clip_id, "pattern": record.pattern, "split": record.split,
                     "subject_id": record.subject_id, "fps": record.fps, "num_frames": record.num_frames,
                     "size": [record.width, record.height], "source": record.source,
                     "quality_flags": record.quality_flags, "extra": record.extra}, self.settings.root)
            return str(shown), str(timeline), facts


def build_app(settings: AppSettings) -> gr.Blocks:
    """The Blocks app for ``settings`` (not launched; ``server.launch_app`` launches it safely)."""
    app = InterAnimateApp(settings)
    samples = write_sample_photos(settings)
    renderers = renderer_names()
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nHand-face interaction videos with exact labels. Every generated video carries "
                    "synthetic-video marks (container tags and an invisible watermark).")
        with gr.Tab("Animate", id="animate"):
            with gr.Row():
                with gr.Column(scale=1):
                    photo = gr.Image(type="filepath", label="reference photo (one person, roughly frontal)",
                                     sources=["upload"], height=240, elem_id="animate-photo")
                    gr.Examples(samples, inputs=[photo], label="sample photos")
                    all_patterns = gr.Checkbox(label="all 18 patterns", value=False, elem_id="animate-all")
                    groups = []
                    with gr.Row():
                        for family in FAMILIES:
                            groups.append(gr.CheckboxGroup([p.name for p in patterns_in_family(family)],
                                                           label=family, info=FAMILY_DESCRIPTIONS[family],
                                                           elem_id=f"animate-{family}", min_width=160))
                    driving = gr.Video(label="or a driving video (instead of patterns)", sources=["upload"],
                                       height=160, elem_id="animate-driving")
                    with gr.Row():
                        renderer = gr.Dropdown(renderers, value=renderers[0], label="renderer",
                                               info="; ".join(f"{r.name}: {r.description}" for r in RENDERERS),
                                               elem_id="animate-renderer")
                        frames = gr.Slider(8, settings.max_frames, value=16, step=1, label="frames",
                                           elem_id="animate-frames")
                    with gr.Row():
                        seed = gr.Number(0, precision=0, label="seed", elem_id="animate-seed")
                        steps = gr.Slider(0, 50, value=0, step=1, label="denoising steps (0 = the model's default)",
                                          elem_id="animate-steps")
                    go = gr.Button("Generate", variant="primary", elem_id="animate-go")
                with gr.Column(scale=1):
                    video = gr.Video(label="result", autoplay=True, loop=True, interactive=False, height=300,
                                     elem_id="animate-video")
                    with gr.Row():
                        show_labels = gr.Checkbox(label="draw the labels over the video", value=False,
                                                  elem_id="animate-labels")
                        clip_choice = gr.Dropdown([], label="clip", elem_id="animate-clip")
                    timeline = gr.Image(label="contact timeline", interactive=False, elem_id="animate-timeline")
                    status = gr.Markdown(elem_id="animate-status")
                    downloads = gr.File(label="downloads: MP4, labels.npz, JSON record per clip; InterHF dataset zip",
                                        file_count="multiple", interactive=False, elem_id="animate-downloads")
            clips = gr.State({})
            go.click(app.animate_page, [photo, all_patterns, *groups, driving, renderer, frames, seed, steps,
                                        show_labels], [video, timeline, downloads, clips, clip_choice, status],
                     api_visibility="private", **CPU)
            show_labels.change(app.show_clip, [clips, clip_choice, show_labels], [video, timeline],
                               api_visibility="private", **LIGHT)
            clip_choice.input(app.show_clip, [clips, clip_choice, show_labels], [video, timeline],
                              api_visibility="private", **LIGHT)

        with gr.Tab("Dataset", id="dataset"):
            state = gr.State(None)
            with gr.Row():
                dataset_name = gr.Dropdown(ds.find_datasets(app.paths), label=f"dataset folder under {settings.root}",
                                           allow_custom_value=True, scale=3, elem_id="dataset-name")
                refresh = gr.Button("Refresh list", scale=0)
                open_button = gr.Button("Open", variant="primary", scale=0, elem_id="dataset-open")
            with gr.Row():
                f_pattern = gr.Dropdown([ds.ANY], value=ds.ANY, label="pattern")
                f_split = gr.Dropdown([ds.ANY], value=ds.ANY, label="split")
                f_subject = gr.Textbox(label="subject contains")
                f_contact = gr.Radio([ds.ANY, "with contact", "no contact"], value=ds.ANY, label="contact")
                f_flag = gr.Dropdown([ds.ANY], value=ds.ANY, label="quality flag")
            table = gr.Dataframe(headers=list(ds.TABLE_COLUMNS), interactive=False, max_height=260,
                                 elem_id="dataset-table")
            with gr.Row():
                with gr.Column():
                    with gr.Row():
                        clip_id = gr.Dropdown([], label="clip", elem_id="dataset-clip")
                        clip_labels = gr.Checkbox(label="draw the labels", value=True)
                    clip_video = gr.Video(label="clip", autoplay=True, loop=True, interactive=False, height=260,
                                          elem_id="dataset-video")
                    clip_timeline = gr.Image(label="contact timeline", interactive=False)
                    clip_facts = gr.JSON(label="record")
                with gr.Column():
                    chart = gr.Image(label="statistics", interactive=False, elem_id="dataset-stats")
                    stats_text = gr.Markdown()
                    validation = gr.Textbox(label="validation", lines=4, max_lines=20, elem_id="dataset-validation")
                    rejects = gr.Dataframe(headers=["input", "what", "reason", "message"], interactive=False,
                                           label="rejected inputs and clips", max_height=200)
            refresh.click(app.dataset_choices, None, dataset_name, api_visibility="private", **LIGHT)
            filters = [f_pattern, f_split, f_subject, f_contact, f_flag]
            open_button.click(app.open_dataset, dataset_name,
                              [state, table, f_pattern, f_split, f_flag, f_subject, f_contact, clip_id, chart,
                               stats_text, validation, rejects], api_visibility="private", **CPU).then(
                app.view_clip, [state, clip_id, clip_labels], [clip_video, clip_timeline, clip_facts],
                api_visibility="private", **CPU)
            for control in filters:
                control.change(app.filter_table, [state, *filters], [table, clip_id], api_visibility="private",
                               **LIGHT)
            table.select(app.clip_from_table, table, clip_id, api_visibility="private", **LIGHT).then(
                app.view_clip, [state, clip_id, clip_labels], [clip_video, clip_timeline, clip_facts],
                api_visibility="private", **CPU)
            for control in (clip_id, clip_labels):
                control.input(app.view_clip, [state, clip_id, clip_labels], [clip_video, clip_timeline, clip_facts],
                              api_visibility="private", **CPU)

        with gr.Tab("Annotate", id="annotate"):
            with gr.Row():
                with gr.Column():
                    upload = gr.Video(label="a real video of a person touching their face", sources=["upload"],
                                      height=260, elem_id="annotate-video")
                    mirrored = gr.Checkbox(label="mirrored (front-camera preview)", value=False)
                    annotate_button = gr.Button("Annotate", variant="primary", elem_id="annotate-go")
                    verdict = gr.Markdown(elem_id="annotate-verdict")
                    zip_file = gr.File(label="the clips as an InterHF dataset (zip)", interactive=False,
                                       elem_id="annotate-zip")
                with gr.Column():
                    overlay = gr.Video(label="labels drawn over the clip", autoplay=True, loop=True,
                                       interactive=False, height=260, elem_id="annotate-overlay")
                    annotate_timeline = gr.Image(label="contact timeline", interactive=False)
                    record = gr.JSON(label="record", open=False)
            annotate_button.click(app.annotate_page, [upload, mirrored],
                                  [overlay, annotate_timeline, verdict, record, zip_file], api_visibility="private",
                                  **CPU)

        # Named endpoints for scripts (gradio_client): components that exist only for the API.
        with gr.Row(visible=False):
            api_photo = gr.File(label="photo")
            api_patterns = gr.Textbox(label="patterns", info="pattern or family names, comma-separated, or 'all'")
            api_renderer = gr.Dropdown(renderers, value=renderers[0], label="renderer")
            api_frames = gr.Number(16, precision=0, label="frames")
            api_seed = gr.Number(0, precision=0, label="seed")
            api_steps = gr.Number(0, precision=0, label="steps", info="0 = the model's default")
            api_video = gr.Video(label="video")
            api_labels = gr.File(label="labels")
            api_record = gr.JSON(label="record")
            api_zip = gr.File(label="dataset")
            api_animate = gr.Button()
            api_input_video = gr.File(label="video")
            api_mirrored = gr.Checkbox(False, label="mirrored")
            api_annotation = gr.JSON(label="record")
            api_annotate = gr.Button()
        api_animate.click(app.animate_api, [api_photo, api_patterns, api_renderer, api_frames, api_seed, api_steps],
                          [api_video, api_labels, api_record, api_zip], api_name="animate", **CPU)
        api_annotate.click(app.annotate_api, [api_input_video, api_mirrored], api_annotation, api_name="annotate",
                           **CPU)
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo
