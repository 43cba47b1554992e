"""The minimal proto is wire-compatible with go-livepeer's: every message, field name, number and type below
was copied by hand from go-livepeer's net/lp_rpc.proto (commit 176aa415; the research brief §1.2) and is checked
against the generated descriptor, so a renumbered field fails here rather than on a real orchestrator."""

from __future__ import annotations

import base64

import pytest
from google.protobuf.descriptor import FieldDescriptor as F

from prober.info import CAP_LIVE_VIDEO_TO_VIDEO, capability_bitstring, has_capability, parse_info
from prober.proto import lp_rpc_pb2 as pb

B, S, U32, U64, I64, I32, BOOL, MSG, ENUM = (F.TYPE_BYTES, F.TYPE_STRING, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_INT64,
                                             F.TYPE_INT32, F.TYPE_BOOL, F.TYPE_MESSAGE, F.TYPE_ENUM)  # fmt: skip

GO_LIVEPEER = {
    "OrchestratorRequest": {"address": (1, B), "sig": (2, B), "capabilities": (3, MSG), "ignoreCapacityCheck": (4, BOOL)},
    "OrchestratorInfo": {
        "transcoder": (1, S), "ticket_params": (2, MSG), "price_info": (3, MSG), "address": (4, B), "capabilities": (5, MSG),
        "auth_token": (6, MSG), "hardware": (7, MSG), "storage": (32, MSG), "capabilities_prices": (33, MSG), "nodes": (34, S),
    },
    "Capabilities": {"bitstring": (1, U64), "mandatories": (2, U64), "capacities": (3, MSG), "version": (4, S), "constraints": (5, MSG)},
    "Capabilities.Constraints": {"minVersion": (1, S), "PerCapability": (2, MSG)},
    "Capabilities.CapabilityConstraints": {"models": (1, MSG)},
    "Capabilities.CapabilityConstraints.ModelConstraint": {"warm": (1, BOOL), "capacity": (2, U32), "runnerVersion": (3, S), "capacityInUse": (4, U32)},
    "PriceInfo": {"pricePerUnit": (1, I64), "pixelsPerUnit": (2, I64), "capability": (3, U32), "constraint": (4, S)},
    "AuthToken": {"token": (1, B), "session_id": (2, S), "expiration": (3, I64)},
    "SegData": {
        "manifestId": (1, B), "seq": (2, I64), "hash": (3, B), "profiles": (4, B), "sig": (5, B), "duration": (6, I32),
        "capabilities": (7, MSG), "auth_token": (8, MSG), "calc_perceptual_hash": (10, BOOL), "storage": (32, MSG),
        "ForceSessionReinit": (38, BOOL),
    },
    "TicketParams": {"recipient": (1, B), "face_value": (2, B), "win_prob": (3, B), "recipient_rand_hash": (4, B), "seed": (5, B),
                     "expiration_block": (6, B), "expiration_params": (7, MSG)},
    "TicketExpirationParams": {"creation_round": (1, I64), "creation_round_block_hash": (2, B)},
    "TicketSenderParams": {"sender_nonce": (1, U32), "sig": (2, B)},
    "Payment": {"ticket_params": (1, MSG), "sender": (2, B), "expiration_params": (3, MSG), "ticket_sender_params": (4, MSG),
                "expected_price": (5, MSG)},
    "PaymentResult": {"info": (16, MSG)},
    "HardwareInformation": {"pipeline": (1, S), "model_id": (2, S), "gpu_info": (3, MSG)},
    "GPUComputeInfo": {"id": (1, S), "name": (2, S), "major": (4, U32), "minor": (5, U32), "memory_free": (6, I64), "memory_total": (7, I64)},
    "OSInfo": {"storageType": (1, ENUM)},
}  # fmt: skip
MAPS = {("Capabilities", "capacities"): (U32, U32), ("Capabilities.Constraints", "PerCapability"): (U32, MSG),
        ("Capabilities.CapabilityConstraints", "models"): (S, MSG), ("HardwareInformation", "gpu_info"): (S, MSG)}  # fmt: skip


def _message(path: str):  # noqa: ANN202
    desc = pb.DESCRIPTOR.message_types_by_name[path.split(".")[0]]
    for part in path.split(".")[1:]:
        desc = desc.nested_types_by_name[part]
    return desc


@pytest.mark.parametrize("message", sorted(GO_LIVEPEER))
def test_fields_match_go_livepeer(message: str) -> None:
    desc = _message(message)
    got = {f.name: (f.number, f.type) for f in desc.fields}
    assert got == GO_LIVEPEER[message]
    for (m, field), (key_type, value_type) in MAPS.items():
        if m == message:
            entry = desc.fields_by_name[field].message_type
            assert entry.GetOptions().map_entry and (entry.fields_by_name["key"].type, entry.fields_by_name["value"].type) == (key_type, value_type)


def test_package_service_and_method_path() -> None:
    assert pb.DESCRIPTOR.package == "net"
    method = pb.DESCRIPTOR.services_by_name["Orchestrator"].methods_by_name["GetOrchestrator"]
    assert f"/{method.containing_service.full_name}/{method.name}" == "/net.Orchestrator/GetOrchestrator"
    assert (method.input_type.name, method.output_type.name) == ("OrchestratorRequest", "OrchestratorInfo")


def test_capability_bits_follow_go_livepeer_layout() -> None:
    # core/capabilities.go addCapability: bitstring[c/64] |= 1 << (c%64); 35 alone is [1<<35]
    assert capability_bitstring([35]) == [34359738368]
    default_caps = [*range(13), 14, 26, 35]  # the AI gateway's request: default caps + live video (brief §1.3)
    assert capability_bitstring(default_caps) == [34426871807]
    assert has_capability([34359738368], 35) and not has_capability([34359738368], 34) and not has_capability([], 35)
    assert has_capability(capability_bitstring([70]), 70) and not has_capability(capability_bitstring([70]), 6)


def test_wire_bytes_of_a_model_constraint_decode_as_capacity_and_in_use() -> None:
    # Hand-encoded: ModelConstraint{warm=1 (tag 0x08), capacity=2 (0x10), runnerVersion="v" (0x1a), capacityInUse=3 (0x20)}
    raw = bytes([0x08, 1, 0x10, 2, 0x1A, 1, ord("v"), 0x20, 3])
    m = pb.Capabilities.CapabilityConstraints.ModelConstraint.FromString(raw)
    assert (m.warm, m.capacity, m.runnerVersion, m.capacityInUse) == (True, 2, "v", 3)
    info = pb.OrchestratorInfo(transcoder="https://o.example:8935")
    info.capabilities.bitstring.append(1 << CAP_LIVE_VIDEO_TO_VIDEO)
    info.capabilities.constraints.PerCapability[35].models["streamdiffusion"].CopyFrom(m)
    info.capabilities_prices.add(pricePerUnit=7, pixelsPerUnit=3, capability=35, constraint="streamdiffusion")
    info.capabilities_prices.add(pricePerUnit=-1, pixelsPerUnit=1, capability=35, constraint="other")  # ignored: negative
    view = parse_info(pb.OrchestratorInfo.FromString(info.SerializeToString()), "o.example:8935")
    offer = view.models["streamdiffusion"]
    assert (view.live, offer.idle, offer.in_use, offer.warm, offer.price_per_unit, offer.pixels_per_unit) == (True, 2, 3, True, 7, 3)
    assert view.price_for("streamdiffusion") == (7, 3) and view.price_for("other") == (0, 1)
    # an empty Livepeer-Payment header decodes to an empty Payment, as in go-livepeer
    assert pb.Payment.FromString(base64.b64decode("")) == pb.Payment()
