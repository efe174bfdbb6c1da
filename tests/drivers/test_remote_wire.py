"""Wire format: arrays as bytes + header through serpent, frames/states as dicts, typed errors."""

from __future__ import annotations

import numpy as np
import pytest
import serpent
from Pyro5.serializers import SerpentSerializer

from drivers.errors import Aborted, InstrumentError, InvalidArgument, SafetyInterlock, Timeout
from drivers.frames import Axis, Capabilities, Frame, ProbeState
from drivers.remote.errors import AuthenticationError, as_driver_error, register_error_classes
from drivers.remote.wire import (
    WireFormatError,
    capabilities_from_wire,
    capabilities_to_wire,
    decode_array,
    decode_array_tuple,
    encode_array,
    frame_from_wire,
    frame_to_wire,
    probe_from_wire,
    probe_to_wire,
)


def _through_serpent(obj):
    return serpent.loads(serpent.dumps(obj, module_in_classname=True))


ARRAYS = [
    np.frombuffer(np.random.default_rng(0).bytes(4 * 60), dtype="<f4").reshape(6, 10),  # NaN payloads too
    np.random.default_rng(1).normal(size=(3, 4, 5)),
    np.arange(1000, dtype=np.uint16),
    np.array([-(2**62), 2**62], dtype=np.int64),
    (np.arange(6) + 1j * np.arange(6)).astype(np.complex64),
    np.array([True, False, True]),
    np.arange(12, dtype=">f4").reshape(3, 4),  # big-endian keeps its byte order
    np.array(3.5),  # 0-d
    np.zeros((0, 5), dtype=np.float32),
    np.arange(64, dtype=np.float64).reshape(8, 8)[::2, 1::3].T,  # not contiguous
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_arrays_are_bit_exact_through_serpent(array):
    envelope = _through_serpent(encode_array(array))
    assert isinstance(envelope["data"], dict) and envelope["data"]["encoding"] == "base64"
    back = decode_array(envelope)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == np.ascontiguousarray(array).tobytes()
    assert back.flags.writeable


def test_malformed_envelopes_are_refused():
    good = encode_array(np.arange(4, dtype=np.float32))
    with pytest.raises(WireFormatError, match="bytes for shape"):
        decode_array({**good, "shape": [5]})
    with pytest.raises(WireFormatError, match="malformed"):
        decode_array({"shape": [4], "data": good["data"]})
    with pytest.raises(WireFormatError, match="dtype"):
        encode_array(np.array(["a", "b"]))
    with pytest.raises(WireFormatError):
        encode_array(np.array([object()]))
    assert issubclass(WireFormatError, InvalidArgument)


def test_frames_probe_and_capabilities_round_trip():
    data = np.random.default_rng(2).poisson(5.0, size=300).astype(np.uint32)
    energy = Axis.uniform("energy_loss", "eV", -5.0, 0.05, 300)
    metadata = {
        "exposure_s": np.float64(0.25),
        "n": np.int32(7),
        "probe_yx_m": (1e-9, -2e-9),
        "nested": {"mask": np.array([1, 2, 3], dtype=np.int8), "name": "x"},
        "dose_e": None,
        "flags": [True, np.bool_(False)],
    }
    frame = Frame(data, (energy,), "f-1", metadata)
    back = frame_from_wire(_through_serpent(frame_to_wire(frame)))
    assert back.frame_id == "f-1" and back.data.dtype == np.uint32
    assert back.data.tobytes() == data.tobytes()
    assert back.axes[0].name == "energy_loss" and back.axes[0].units == "eV"
    assert back.axes[0].values.tobytes() == energy.values.tobytes()
    assert back.metadata["exposure_s"] == 0.25 and back.metadata["n"] == 7
    assert back.metadata["probe_yx_m"] == (1e-9, -2e-9)  # tuples stay tuples
    assert back.metadata["nested"]["mask"].dtype == np.int8
    assert back.metadata["nested"]["mask"].tolist() == [1, 2, 3]
    assert back.metadata["dose_e"] is None and back.metadata["flags"] == [True, False]

    probe = ProbeState("f-1", (1e-9, 2e-9), (0.25, 0.75), True)
    assert probe_from_wire(_through_serpent(probe_to_wire(probe))) == probe
    caps = Capabilities(("HAADF", "EELS"), {"EELS": "eV"}, 1e-6, 10.0, ("state",), "x")
    assert capabilities_from_wire(_through_serpent(capabilities_to_wire(caps))) == caps
    with pytest.raises(WireFormatError, match="frame_id"):
        frame_from_wire({"data": encode_array(data), "axes": []})


def test_array_tuples_in_both_forms():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    ours = _through_serpent((image.tobytes(), [3, 4], image.dtype.str))
    assert decode_array_tuple(ours).tobytes() == image.tobytes()
    ornl = (image.tolist(), (3, 4), "float32")  # ORNL's original server sends lists
    np.testing.assert_array_equal(decode_array_tuple(ornl), image)
    with pytest.raises(WireFormatError):
        decode_array_tuple((image.tolist(), (5, 4), "float32"))
    with pytest.raises(WireFormatError):
        decode_array_tuple("not a tuple")


def test_errors_keep_their_class_and_message_through_the_serializer():
    register_error_classes()
    ser = SerpentSerializer()
    for original in (
        InvalidArgument("exposure_s=-1 must be > 0"),
        SafetyInterlock("dose budget exhausted"),
        Timeout("no frame within 1 s"),
        Aborted("stopped"),
        AuthenticationError("wrong secret"),
        InstrumentError("scan failed", "DS error 42"),
    ):
        back = ser.loads(ser.dumps(original))
        assert type(back) is type(original) and str(back) == str(original)
    back = ser.loads(ser.dumps(InstrumentError("scan failed", "DS error 42")))
    assert back.vendor_message == "DS error 42"


def test_untyped_errors_become_instrument_errors():
    class VendorFault(InvalidArgument):
        pass

    wrapped = as_driver_error(ValueError("bad pixel"))
    assert isinstance(wrapped, InstrumentError) and wrapped.vendor_message == "ValueError: bad pixel"
    narrowed = as_driver_error(VendorFault("too far"))
    assert type(narrowed) is InvalidArgument and str(narrowed) == "too far"
    same = Timeout("t")
    assert as_driver_error(same) is same
