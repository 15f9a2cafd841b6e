"""lib/ is layered (docs/ARCHITECTURE.md, "Layers"): a folder includes only its own headers and those
of folders in lower layers. The layers are read from the document, so the two cannot drift apart."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.MULTILINE)
LAYER_ROW = re.compile(r"^\|\s*(\d+)\s*\|([^|]*)\|", re.MULTILINE)


def layers_from_architecture():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layer_of = {}
    for number, folders in LAYER_ROW.findall(section):
        for folder in re.findall(r"`([a-z_]+)`", folders):
            layer_of[folder] = int(number)
    return layer_of


def test_every_lib_folder_has_a_layer():
    layer_of = layers_from_architecture()
    folders = {p.name for p in (ROOT / "lib").iterdir() if p.is_dir()}
    assert folders == set(layer_of), f"folders without a layer: {folders - set(layer_of)}; gone: {set(layer_of) - folders}"


def test_no_lib_folder_includes_its_own_layer_or_above():
    layer_of = layers_from_architecture()
    upward = []
    for source in sorted((ROOT / "lib").rglob("*.[ch]pp")):
        folder = source.parent.name
        for included in INCLUDE.findall(source.read_text()):
            if included != folder and included in layer_of and layer_of[included] >= layer_of[folder]:
                upward.append(f"{source.relative_to(ROOT)} includes {included}/ (layer {layer_of[included]} >= {layer_of[folder]})")
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_include(tmp_path):
    # The parser itself: an include of a higher layer is found in text shaped like ours.
    layer_of = {"util": 0, "store": 3}
    text = '#include "store/store.hpp"\n#include <vector>\n'
    assert [f for f in INCLUDE.findall(text) if layer_of[f] > layer_of["util"]] == ["store"]
