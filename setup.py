"""ament_python build of depth_ros: the runtime package, its launch, config and RViz files."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    install_requires=["setuptools"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="depth_ros maintainers",
    maintainer_email="maintainers@depth-ros.dev",
    description="Self-supervised monocular depth (Monodepth2 and extensions) as a ROS 2 perception node.",
    license="BSD-3-Clause",
    entry_points={
        "console_scripts": [
            "depth_node = depth_ros.node:main",
            "process_bag = depth_ros.process_bag:main",
            "kitti_to_bag = depth_ros.kitti_to_bag:main",
            "depth_infer = depth_ros.infer:main",
            "depth_export = depth_ros.export:main",
        ],
    },
)
