"""Packaging: colcon builds depth_ros as an ament_python package; launch, parameter and RViz files are sound.

The ROS launch packages are not installable here, so the launch file is checked with ``ast`` (and
imported for real only where ``launch_ros`` is available).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "depth_ros"
LAUNCH_FILE = ROOT / "launch" / "depth.launch.py"
PARAMS_FILE = ROOT / "config" / "depth.yaml"
RVIZ_FILE = ROOT / "config" / "depth.rviz"
PACKAGING = ["package.xml", "setup.py", "setup.cfg", "resource", "launch", "config", PACKAGE]

LAUNCH_ARGUMENTS = {
    "model": "",
    "backend": "",  # empty: the parameter file's
    "image": "/kitti/camera_color_left/image_raw",
    "camera_info": "/kitti/camera_color_left/camera_info",
    "params_file": None,  # a substitution: the installed config/depth.yaml
    "rviz": "false",
    "bag": "",
    "use_sim_time": "false",
}
NODE_PARAMETERS = {
    "model_path": str,
    "backend": str,
    "device": str,
    "scale_strategy": str,
    "camera_height_m": float,
    "scale_window": int,
    "fixed_scale": float,
    "output_width": int,
    "output_height": int,
    "colormap_min_depth_m": float,
    "colormap_max_depth_m": float,
    "publish_points": bool,
    "points_stride": int,
    "use_camera_info": bool,
    "latency_log_period_s": float,
    "frame_id_override": str,
}


def _colcon() -> str | None:
    """The colcon next to the running interpreter (the project venv), else one on PATH."""
    beside = Path(sys.executable).parent / "colcon"
    return str(beside) if beside.is_file() else shutil.which("colcon")


@pytest.fixture(scope="module")
def colcon_workspace(tmp_path_factory) -> Path:
    """A workspace holding a copy of the package's packaging files, built once with ``colcon build``."""
    colcon = _colcon()
    if colcon is None:
        pytest.skip("colcon is not installed")
    workspace = tmp_path_factory.mktemp("ws")
    source = workspace / "src" / PACKAGE
    source.mkdir(parents=True)
    for name in PACKAGING:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    env = dict(os.environ, COLCON_HOME=str(workspace / ".colcon"))
    env["PATH"] = f"{Path(colcon).parent}{os.pathsep}{env.get('PATH', '')}"
    build = subprocess.run(
        [colcon, "build", "--event-handlers", "console_direct-"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"colcon build failed:\n{build.stdout}\n{build.stderr}"
    listing = subprocess.run([colcon, "list"], cwd=workspace, env=env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    (workspace / "colcon_list.txt").write_text(listing.stdout + listing.stderr)
    return workspace


def test_colcon_sees_an_ament_python_package(colcon_workspace):
    """catkin_pkg parsed package.xml (a bad maintainer email would demote it to plain ``python``)."""
    listing = (colcon_workspace / "colcon_list.txt").read_text()
    assert re.search(rf"^{PACKAGE}\s+src/{PACKAGE}\s+\(ros\.ament_python\)$", listing, re.MULTILINE), listing
    assert "WARNING" not in listing


@pytest.mark.parametrize(
    "relative",
    [
        f"share/{PACKAGE}/launch/depth.launch.py",
        f"share/{PACKAGE}/config/depth.yaml",
        f"share/{PACKAGE}/config/depth.rviz",
        f"share/ament_index/resource_index/packages/{PACKAGE}",
        f"share/{PACKAGE}/package.xml",
        f"share/{PACKAGE}/hook/ament_prefix_path.dsv",
        f"lib/{PACKAGE}/depth_node",
        f"lib/{PACKAGE}/kitti_to_bag",
    ],
)
def test_install_tree_has(colcon_workspace, relative):
    assert (colcon_workspace / "install" / PACKAGE / relative).is_file()


def test_console_script_targets_the_node(colcon_workspace):
    install = colcon_workspace / "install" / PACKAGE
    script = install / "lib" / PACKAGE / "depth_node"
    assert os.access(script, os.X_OK) and script.read_text().startswith("#!")
    (entry_points,) = install.glob("lib/python*/site-packages/*.egg-info/entry_points.txt")
    assert re.search(r"^depth_node = depth_ros\.node:main$", entry_points.read_text(), re.MULTILINE)


# ------------------------------------------------------------------------------------------ launch


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _call_name(node) == name]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


@pytest.fixture(scope="module")
def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_launch_declares_its_arguments(launch_tree):
    declared = {}
    for call in _calls(launch_tree, "DeclareLaunchArgument"):
        name = ast.literal_eval(call.args[0])
        default = _keyword(call, "default_value")
        declared[name] = ast.literal_eval(default) if isinstance(default, ast.Constant) else default
    assert set(declared) == set(LAUNCH_ARGUMENTS)
    for name, expected in LAUNCH_ARGUMENTS.items():
        if expected is not None:
            assert declared[name] == expected, name
    params_default = ast.unparse(declared["params_file"])
    assert "FindPackageShare" in ast.unparse(launch_tree) and "'depth.yaml'" in params_default


def test_launch_defines_generate_launch_description(launch_tree):
    functions = [n.name for n in launch_tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in functions
    imported = {
        alias.name.split(".")[0] for n in ast.walk(launch_tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module.split(".")[0] for n in ast.walk(launch_tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"launch", "launch_ros"}, imported


def test_launch_node_wiring(launch_tree):
    nodes = {ast.literal_eval(_keyword(call, "executable")): call for call in _calls(launch_tree, "Node")}
    assert set(nodes) == {"depth_node", "rviz2"}
    depth_node = nodes["depth_node"]
    assert ast.literal_eval(_keyword(depth_node, "name")) == "depth_node"
    remapped = [ast.literal_eval(pair.elts[0]) for pair in _keyword(depth_node, "remappings").elts]
    assert remapped == ["image", "camera_info"]
    parameters = ast.unparse(_keyword(depth_node, "parameters"))
    assert parameters == "[params_file, overrides]"
    rviz = ast.unparse(nodes["rviz2"])
    assert "IfCondition" in rviz and "'depth.rviz'" in rviz and "'-d'" in rviz
    (bag_play,) = _calls(launch_tree, "ExecuteProcess")
    command = ast.unparse(_keyword(bag_play, "cmd"))
    assert "'ros2', 'bag', 'play'" in command and "'--clock'" in command
    assert _keyword(bag_play, "condition") is not None


def test_launch_file_runs_where_launch_ros_is_installed():
    pytest.importorskip("launch_ros")
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("depth_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert names == set(LAUNCH_ARGUMENTS)


@pytest.mark.parametrize(
    ("given", "overridden"),
    [
        ({}, set()),
        ({"model": "/m.onnx"}, {"model_path"}),
        ({"model": "/m.onnx", "backend": "torch"}, {"model_path", "backend"}),
    ],
)
def test_launch_overrides_the_parameter_file_only_with_arguments_given(monkeypatch, given, overridden):
    """``model_path`` set in depth.yaml holds under ``ros2 launch`` unless ``model:=`` is given (#22)."""
    pytest.importorskip("launch_ros")
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.utilities import perform_substitutions
    from launch_ros.substitutions import FindPackageShare

    from launch import LaunchContext

    monkeypatch.setattr(FindPackageShare, "perform", lambda self, context: "/opt/depth_ros/share/depth_ros")
    spec = importlib.util.spec_from_file_location("depth_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description, context = module.generate_launch_description(), LaunchContext()
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            default = perform_substitutions(context, entity.default_value)
            context.launch_configurations[entity.name] = given.get(entity.name, default)
    (node,) = next(e for e in description.entities if isinstance(e, OpaqueFunction)).execute(context)
    overrides = [p for p in node._Node__parameters if isinstance(p, dict)]  # the file's entry comes first
    names = {perform_substitutions(context, key) for key in overrides[0]}
    assert names == {"use_sim_time", *overridden}


# ------------------------------------------------------------------------------------ config files


def test_parameter_file_names_types_and_comments():
    params = yaml.safe_load(PARAMS_FILE.read_text())
    assert list(params) == ["depth_node"]
    values = params["depth_node"]["ros__parameters"]
    assert set(values) == set(NODE_PARAMETERS)
    for name, kind in NODE_PARAMETERS.items():
        assert type(values[name]) is kind, f"{name}: {values[name]!r} is not {kind.__name__}"
    assert values["backend"] == "auto" and values["scale_strategy"] == "camera_height"
    assert values["camera_height_m"] == 1.65 and values["colormap_max_depth_m"] == 80.0
    # every parameter (or group of adjacent parameters) has a comment above it
    lines = PARAMS_FILE.read_text().splitlines()
    parameter_line = re.compile(r"^ {4}(\w+):")
    for index, line in enumerate(lines):
        if parameter_line.match(line):
            above = index - 1
            while parameter_line.match(lines[above]):
                above -= 1
            assert lines[above].strip().startswith("#"), f"no comment for {line.strip()}"


def _displays() -> list[dict]:
    return yaml.safe_load(RVIZ_FILE.read_text())["Visualization Manager"]["Displays"]


def test_rviz_config_displays():
    config = yaml.safe_load(RVIZ_FILE.read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_color_left"
    by_topic = {d["Topic"]["Value"]: d for d in _displays() if "Topic" in d}
    assert {d["Class"] for d in _displays()} == {
        "rviz_default_plugins/Image",
        "rviz_default_plugins/PointCloud2",
        "rviz_default_plugins/TF",
    }
    for topic in ("/kitti/camera_color_left/image_raw", "/depth/colorized", "/depth/image"):
        assert by_topic[topic]["Class"] == "rviz_default_plugins/Image"
    depth = by_topic["/depth/image"]
    assert depth["Normalize Range"] is False and depth["Min Value"] == 0 and depth["Max Value"] == 80
    points = by_topic["/points"]
    assert points["Class"] == "rviz_default_plugins/PointCloud2"
    assert points["Topic"]["Reliability Policy"] == "Reliable"
    assert all(d["Enabled"] for d in _displays())
