"""The curl commands `loopnode demo` logs once everything serves: the cycle to try by hand (pure)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..devloop import DEMO_ORG, DEMO_PROJECT

API = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'
ADMIN = f'/admin/{DEMO_ORG}/projects/{DEMO_PROJECT}'


def guide_lines(sample: Path, loop_url: str, urls: dict[str, str], trainer_uuid: str | None) -> list[str]:
    """`label: command` lines, in the order of the cycle; steps of a missing node are left out."""
    lines = []
    if 'detector' in urls:
        detect = f'{urls["detector"]}/detect'
        lines += [f'1 detect:                  curl -F file=@{sample} {detect}',
                  f'  detect and upload:       curl -F file=@{sample} -H "autoupload: all" {detect}',
                  f'2 see the upload:          curl {loop_url}/admin/received/images']
    if 'annotator' in urls:
        lines += [f'3 magic-wand click:        curl -X POST {loop_url}/admin/annotators/any/handle_user_input '
                  f'-H "Content-Type: application/json" -d \'{{"event_type": "left_mouse_down", "x": X, "y": Y, '
                  f'"image_uuid": "ID"}}\'',
                  '  (ID of step 2, X Y inside a box of step 1; then the same with "left_mouse_up")',
                  f'  the segmentation:        curl {loop_url}/admin/annotators/annotations']
    if trainer_uuid is not None:
        lines += [f'4 begin a training:        curl -X POST {loop_url}/admin/trainers/{trainer_uuid}/begin_training '
                  f'-H "Content-Type: application/json" -d \'{{}}\'',
                  f'5 its state and progress:  curl {urls["trainer"]}/status',
                  f'6 the new version:         curl {loop_url}{API}/models   (formats color_blobs and '
                  f'color_blobs_lut)']
    lines += [f'7 deploy it:               curl -X PUT {loop_url}{ADMIN}/deployment/target '
              f'-H "Content-Type: application/json" -d \'{{"version": "<new version>"}}\'']
    if 'detector' in urls:
        lines += [f'8 the detector follows:    curl -F file=@{sample} {urls["detector"]}/detect   '
                  f'(model_name = the new version)']
    return lines


def node_lines(loop_url: str, nodes: dict[str, Any]) -> list[str]:
    return [f'devloop   {loop_url}'] + [f'{node_type:<9} {node.url}' for node_type, node in nodes.items()]
