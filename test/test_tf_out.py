"""The node's TF output: tf2_ros's TransformBroadcaster where importable, else a /tf publisher
with the broadcaster's QoS. Runs in-process on a private context; tf2_ros itself has no wheel
here, so a stand-in with its interface checks what the node hands it."""

from collections.abc import Iterator

import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from std_msgs.msg import Header

from seqpose_core.estimates import PoseEstimate
from seqpose_ros.node.converters import to_transforms
from seqpose_ros.node.tf_out import TF_QOS, TfOut


@pytest.fixture
def node() -> Iterator[rclpy.node.Node]:
    context = rclpy.Context()
    rclpy.init(context=context)
    n = rclpy.create_node("tf_out_test", context=context)
    yield n
    n.destroy_node()
    rclpy.shutdown(context=context)


def message():
    e = PoseEstimate(4, "can", 0.9, np.eye(3), np.array([0.1, 0.0, 0.8]), np.full(3, 0.1), track_id=3)
    header = Header(frame_id="cam_optical")
    return to_transforms([e], header, "seqpose/")


class StandInTf2Ros:
    """tf2_ros's interface: TransformBroadcaster(node, qos), .pub_tf, .sendTransform(list)."""

    class TransformBroadcaster:
        def __init__(self, node, qos):
            self.qos, self.pub_tf = qos, node.create_publisher(type(message()), "/tf", qos)
            self.sent: list = []

        def sendTransform(self, transforms):  # tf2_ros's name
            self.sent.append(transforms)


def test_the_broadcaster_is_used_where_tf2_ros_imports(node):
    out = TfOut(node, StandInTf2Ros)
    out.publish(message())
    (sent,) = out._broadcaster.sent
    assert out.backend == "tf2_ros.TransformBroadcaster" and out._broadcaster.qos is TF_QOS
    assert [t.child_frame_id for t in sent] == ["seqpose/can_3"] and sent[0].header.frame_id == "cam_optical"


def test_without_tf2_ros_a_tf_publisher_with_the_broadcasters_qos(node):
    out = TfOut(node, None)
    assert out.backend == "/tf publisher" and out.publisher.topic_name == "/tf"
    qos = out.publisher.qos_profile
    assert (qos.depth, qos.reliability, qos.durability) == (
        100,
        ReliabilityPolicy.RELIABLE,
        DurabilityPolicy.VOLATILE,
    )
