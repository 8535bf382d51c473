"""ISO/IEC 39794-5 face image data block as the ICAO eMRTD Application Profile encodes it in DG2.

The types follow the ICAO edition of the ASN.1 modules (``ID-ICAO-ISO-IEC-39794-1-ed-1-v1`` and
``ID-ICAO-ISO-IEC-39794-5-ed-1-v1``): every ASN.1 type of the face image data block is a frozen
dataclass of the same name (:mod:`emrtd._tagged` encodes and decodes them), every component an
attribute in snake_case (``imageRepresentation2DBlock`` -> ``image_representation_2d_block``), all
OPTIONAL components included. ``CaptureDateTimeBlock`` is :class:`DateTimeBlock`,
``CertificationIdBlock`` is :class:`RegistryIdBlock`, every ``XExtensionBlock ::= SEQUENCE { ... }``
alternative is :class:`ExtensionBlock`, every code CHOICE a :class:`Code`.

DO'7F2E' holds the block wrapped in ``[1]`` (``A1 { 65 {...} }``), as ICAO's Application Profile
sample DG2s do; :func:`decode_bdb` and :func:`encode_bdb` handle that wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emrtd._tagged import (
    CODE_NAMES,
    BiometricDataError,
    Code,
    ExtensionBlock,
    _b,
    _c,
    _Choice,
    _err,
    _Ext,
    _i,
    _k,
    _l,
    _o,
    _s,
    _Seq,
)
from emrtd._tlv import TlvError, encode_tlv, read_tlv

__all__ = [
    "BiometricDataError", "Code", "ExtensionBlock", "FaceImageDataBlock", "RepresentationBlock",
    "decode_bdb", "encode_bdb",
]  # fmt: skip


# --- ENUMERATED values (ICAO edition ASN.1) ---
def _names(*names: str, start: int = 0) -> dict[int, str]:
    return {i + start: n for i, n in enumerate(names)}


_MPEG4 = [(2, 14), (3, 14), (4, 6), (5, 4), (6, 4), (7, 1), (8, 10), (9, 15), (10, 10), (11, 6), (12, 4)]
CODE_NAMES.update({
    "ScoringErrorCode": _names("failureToAssess"),
    "PADDecisionCode": _names("noAttack", "attack", "failureToAssess"),
    "PADCaptureContextCode": _names("enrolment", "verification", "identification"),
    "PADSupervisionLevelCode": _names("unknown", "controlled", "assisted", "observed", "unattended"),
    "PADCriteriaCategoryCode": _names("unknown", "individual", "common"),
    "GenderCode": _names("other", "male", "female", start=1),
    "EyeColourCode": _names("unknown", "other", "black", "blue", "brown", "grey", "green", "hazel",
                            "multi-coloured", "pink"),
    "HairColourCode": _names("unknown", "other", "bald", "black", "blonde", "brown", "grey", "white", "red",
                             "knownColoured"),
    "MPEG4FeaturePointCode": _names(*(f"mpeg4PointCode-{g:02d}-{i:02d}" for g, n in _MPEG4 for i in range(1, n + 1))),
    "AnthropometricLandmarkNameCode": _names(*"""vertex glabella opisthocranion eurionLeft eurionRight
        frontotemporaleLeft frontotemporaleRight trichion zygionLeft zygionRight gonionLeft gonionRight sublabiale
        pogonion menton condylionLateraleLeft condylionLateraleRight endocanthionLeft endocanthionRight
        exocanthionLeft exocanthionRight centerPointOfPupilLeft centerPointOfPupilRight orbitaleLeft orbitaleRight
        palpebraleSuperiusLeft palpebraleSuperiusRight palpebraleInferiusLeft palpebraleInferiusRight
        orbitaleSuperiusLeft orbitaleSuperiusRight superciliareLeft superciliareRight nasion sellion alareLeft
        alareRight pronasale subnasale subalare alarCurvatureLeft alarCurvatureRight maxillofrontale
        christaPhiltraLandmarkLeft christaPhiltraLandmarkRight labialeSuperius labialeInferius cheilionLeft
        cheilionRight stomion superauraleLeft superauraleRight subauraleLeft subauraleRight preaurale postaurale
        otobasionSuperiusLeft otobasionSuperiusRight otobasionInferius porion tragion""".split()),
    "AnthropometricLandmarkPointNameCode": _names(*(f"pointCode-{p}" for p in """01-01 01-02 01-05 01-06 01-07
        01-08 01-09 02-01 02-02 02-03 02-04 02-05 02-06 02-07 02-09 02-10 03-01 03-02 03-03 03-04 03-05 03-06 03-07
        03-08 03-09 03-10 03-11 03-12 04-01 04-02 04-03 04-04 05-01 05-02 05-03 05-04 05-06""".split())),
    "AnthropometricLandmarkPointIdCode": _names(*"""v g op eu-left eu-right ft-left ft-right tr zy-left zy-right
        go-left go-right sl pg gn cdl-left cdl-right en-left en-right ex-left ex-right p-left p-right or-left
        or-right ps-left ps-right pi-left pi-right os-left os-right sci-left sci-right n se al-left al-right prn sn
        sbal ac-left ac-right mf-left mf-right cph-left cph-right ls li ch-left ch-right sto sa-left sa-right
        sba-left sba-right pra-left pra-right pa obs-left obs-right obi po t""".split()),
    "CaptureDeviceTechnologyId2DCode": _names(
        "unknown", "staticPhotographFromUnknownSource", "staticPhotographFromDigitalStillImageCamera",
        "staticPhotographFromScanner", "videoFrameFromUnknownSource", "videoFrameFromAnalogueVideoCamera",
        "videoFrameFromDigitalVideoCamera"),
    "FaceImageKind2DCode": _names("mrtd"),
    "LossyTransformationAttemptsCode": _names("unknown", "zero", "one", "moreThanOne"),
    "ImageDataFormatCode": _names("jpeg", "jpeg2000Lossy", "jpeg2000Lossless", start=2),
    "ImageColourSpaceCode": _names("unknown", "other", "rgb24Bit", "rgb48Bit", "yuv422", "greyscale8Bit",
                                   "greyscale16Bit"),
})  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class VersionBlock(_Ext):
    generation: int = _i(0, 3, 65535, req=True)
    year: int = _i(1, 2019, 9999, req=True)


@dataclass(frozen=True, kw_only=True)
class RegistryIdBlock(_Seq):
    organization: int = _i(0, 1, 65535, req=True)
    id: int = _i(1, 1, 65535, req=True)


@dataclass(frozen=True, kw_only=True)
class DateTimeBlock(_Seq):
    year: int = _i(0, 0, 9999, req=True)
    month: int | None = _i(1, 1, 12)
    day: int | None = _i(2, 1, 31)
    hour: int | None = _i(3, 0, 23)
    minute: int | None = _i(4, 0, 59)
    second: int | None = _i(5, 0, 59)
    millisecond: int | None = _i(6, 0, 999)


@dataclass(frozen=True, kw_only=True)
class ScoreOrError(_Choice):
    score: int | None = _i(0, 0, 100)
    error: Code | None = _k(1, "ScoringErrorCode")


@dataclass(frozen=True, kw_only=True)
class QualityBlock(_Ext):
    algorithm_id_block: RegistryIdBlock = _s(0, RegistryIdBlock, req=True)
    score_or_error: ScoreOrError = _c(1, ScoreOrError, req=True)


@dataclass(frozen=True, kw_only=True)
class PADScoreBlock(_Ext):
    mechanism_id_block: RegistryIdBlock = _s(0, RegistryIdBlock, req=True)
    score_or_error: ScoreOrError = _c(1, ScoreOrError, req=True)


@dataclass(frozen=True, kw_only=True)
class ExtendedDataBlock(_Seq):
    data_type_id_block: RegistryIdBlock = _s(0, RegistryIdBlock, req=True)
    data: bytes = _o(1, req=True)


@dataclass(frozen=True, kw_only=True)
class PADDataBlock(_Ext):
    decision: Code | None = _k(0, "PADDecisionCode")
    score_blocks: tuple[PADScoreBlock, ...] | None = _l(1, PADScoreBlock)
    extended_data_blocks: tuple[ExtendedDataBlock, ...] | None = _l(2, ExtendedDataBlock)
    capture_context: Code | None = _k(3, "PADCaptureContextCode")
    supervision_level: Code | None = _k(4, "PADSupervisionLevelCode")
    risk_level: int | None = _i(5, 0, 100)
    criteria_category: Code | None = _k(6, "PADCriteriaCategoryCode")
    parameter: bytes | None = _o(7)
    challenges: tuple[bytes, ...] | None = _l(8, bytes)
    capture_date_time_block: DateTimeBlock | None = _s(9, DateTimeBlock)


@dataclass(frozen=True, kw_only=True)
class CoordinateCartesian2DUnsignedShortBlock(_Seq):
    x: int = _i(0, 0, 65535, req=True)
    y: int = _i(1, 0, 65535, req=True)


@dataclass(frozen=True, kw_only=True)
class CoordinateCartesian3DUnsignedShortBlock(_Seq):
    x: int = _i(0, 0, 65535, req=True)
    y: int = _i(1, 0, 65535, req=True)
    z: int = _i(2, 0, 65535, req=True)


# --- ISO/IEC 39794-5 (ICAO edition) ---
@dataclass(frozen=True, kw_only=True)
class CaptureDeviceBlock(_Ext):
    model_id_block: RegistryIdBlock | None = _s(0, RegistryIdBlock)
    certification_id_blocks: tuple[RegistryIdBlock, ...] | None = _l(1, RegistryIdBlock)


@dataclass(frozen=True, kw_only=True)
class PropertiesBlock(_Ext):
    glasses: bool | None = _b(0)
    moustache: bool | None = _b(1)
    beard: bool | None = _b(2)
    teeth_visible: bool | None = _b(3)
    pupil_or_iris_not_visible: bool | None = _b(4)
    mouth_open: bool | None = _b(5)
    left_eye_patch: bool | None = _b(6)
    right_eye_patch: bool | None = _b(7)
    dark_glasses: bool | None = _b(8)
    biometric_absent: bool | None = _b(9)
    head_coverings_present: bool | None = _b(10)


@dataclass(frozen=True, kw_only=True)
class ExpressionBlock(_Ext):
    neutral: bool | None = _b(0)
    smile: bool | None = _b(1)
    raised_eyebrows: bool | None = _b(2)
    eyes_looking_away_from_the_camera: bool | None = _b(3)
    squinting: bool | None = _b(4)
    frowning: bool | None = _b(5)


@dataclass(frozen=True, kw_only=True)
class AngleDataBlock(_Ext):
    angle_value: int = _i(0, -180, 180, req=True)
    angle_uncertainty: int | None = _i(1, 0, 180)


@dataclass(frozen=True, kw_only=True)
class PoseAngleBlock(_Seq):
    yaw_angle_block: AngleDataBlock | None = _s(0, AngleDataBlock)
    pitch_angle_block: AngleDataBlock | None = _s(1, AngleDataBlock)
    roll_angle_block: AngleDataBlock | None = _s(2, AngleDataBlock)


@dataclass(frozen=True, kw_only=True)
class IdentityMetadataBlock(_Ext):
    gender: Code | None = _k(0, "GenderCode")
    eye_colour: Code | None = _k(1, "EyeColourCode")
    hair_colour: Code | None = _k(2, "HairColourCode")
    subject_height: int | None = _i(3, 1, 65535)
    properties_block: PropertiesBlock | None = _s(4, PropertiesBlock)
    expression_block: ExpressionBlock | None = _s(5, ExpressionBlock)
    pose_angle_block: PoseAngleBlock | None = _s(6, PoseAngleBlock)


@dataclass(frozen=True, kw_only=True)
class AnthropometricLandmarkBase(_Choice):
    anthropometric_landmark_name: Code | None = _k(0, "AnthropometricLandmarkNameCode")
    anthropometric_landmark_point_name: Code | None = _k(1, "AnthropometricLandmarkPointNameCode")
    anthropometric_landmark_point_id: Code | None = _k(2, "AnthropometricLandmarkPointIdCode")


@dataclass(frozen=True, kw_only=True)
class AnthropometricLandmark(_Choice):
    base: AnthropometricLandmarkBase | None = _c(0, AnthropometricLandmarkBase)
    extension_block: ExtensionBlock | None = _s(1, ExtensionBlock)


@dataclass(frozen=True, kw_only=True)
class LandmarkKindBase(_Choice):
    mpeg4_feature_point: Code | None = _k(0, "MPEG4FeaturePointCode")
    anthropometric_landmark: AnthropometricLandmark | None = _c(1, AnthropometricLandmark)


@dataclass(frozen=True, kw_only=True)
class LandmarkKind(_Choice):
    base: LandmarkKindBase | None = _c(0, LandmarkKindBase)
    extension_block: ExtensionBlock | None = _s(1, ExtensionBlock)


@dataclass(frozen=True, kw_only=True)
class CoordinateTextureImageBlock(_Seq):
    u_in_pixel: int = _i(0, req=True)
    v_in_pixel: int = _i(1, req=True)


@dataclass(frozen=True, kw_only=True)
class LandmarkCoordinatesBase(_Choice):
    coordinate_cartesian_2d_block: CoordinateCartesian2DUnsignedShortBlock | None = _s(
        0, CoordinateCartesian2DUnsignedShortBlock)
    coordinate_texture_image_block: CoordinateTextureImageBlock | None = _s(1, CoordinateTextureImageBlock)
    coordinate_cartesian_3d_block: CoordinateCartesian3DUnsignedShortBlock | None = _s(
        2, CoordinateCartesian3DUnsignedShortBlock)


@dataclass(frozen=True, kw_only=True)
class LandmarkCoordinates(_Choice):
    base: LandmarkCoordinatesBase | None = _c(0, LandmarkCoordinatesBase)
    extension_block: ExtensionBlock | None = _s(1, ExtensionBlock)


@dataclass(frozen=True, kw_only=True)
class LandmarkBlock(_Ext):
    landmark_kind: LandmarkKind = _c(0, LandmarkKind, req=True)
    landmark_coordinates: LandmarkCoordinates | None = _c(1, LandmarkCoordinates)


@dataclass(frozen=True, kw_only=True)
class CaptureDeviceSpectral2DBlock(_Ext):
    white_light: bool | None = _b(0)
    near_infrared: bool | None = _b(1)
    thermal: bool | None = _b(2)


@dataclass(frozen=True, kw_only=True)
class CaptureDevice2DBlock(_Ext):
    capture_device_spectral_2d_block: CaptureDeviceSpectral2DBlock | None = _s(0, CaptureDeviceSpectral2DBlock)
    capture_device_technology_id_2d: Code | None = _k(1, "CaptureDeviceTechnologyId2DCode")


@dataclass(frozen=True, kw_only=True)
class ImageDataFormat(_Choice):
    code: int | None = _i(0, names="ImageDataFormatCode")
    extension_block: ExtensionBlock | None = _s(1, ExtensionBlock)


@dataclass(frozen=True, kw_only=True)
class PostAcquisitionProcessingBlock(_Ext):
    rotated: bool | None = _b(0)
    cropped: bool | None = _b(1)
    down_sampled: bool | None = _b(2)
    white_balance_adjusted: bool | None = _b(3)
    multiply_compressed: bool | None = _b(4)
    interpolated: bool | None = _b(5)
    contrast_stretched: bool | None = _b(6)
    pose_corrected: bool | None = _b(7)
    multi_view_image: bool | None = _b(8)
    age_progressed: bool | None = _b(9)
    super_resolution_processed: bool | None = _b(10)
    normalised: bool | None = _b(11)


@dataclass(frozen=True, kw_only=True)
class ImageSizeBlock(_Seq):
    width: int = _i(0, 0, 65535, req=True)
    height: int = _i(1, 0, 65535, req=True)


@dataclass(frozen=True, kw_only=True)
class ImageFaceMeasurementsBlock(_Ext):
    image_head_width: int | None = _i(0)
    image_inter_eye_distance: int | None = _i(1)
    image_eye_to_mouth_distance: int | None = _i(2)
    image_head_length: int | None = _i(3)


@dataclass(frozen=True, kw_only=True)
class ReferenceColourDefinitionAndValueBlock(_Ext):
    reference_colour_definition: bytes | None = _o(0)
    reference_colour_value: bytes | None = _o(1)


@dataclass(frozen=True, kw_only=True)
class ReferenceColourMappingBlock(_Ext):
    reference_colour_schema: bytes | None = _o(0)
    reference_colour_definition_and_value_blocks: tuple[ReferenceColourDefinitionAndValueBlock, ...] | None = _l(
        1, ReferenceColourDefinitionAndValueBlock)


@dataclass(frozen=True, kw_only=True)
class ImageInformation2DBlock(_Ext):
    image_data_format: ImageDataFormat = _c(0, ImageDataFormat, req=True)
    face_image_kind_2d: Code | None = _k(1, "FaceImageKind2DCode")
    post_acquisition_processing_block: PostAcquisitionProcessingBlock | None = _s(2, PostAcquisitionProcessingBlock)
    lossy_transformation_attempts: Code | None = _k(3, "LossyTransformationAttemptsCode")
    camera_to_subject_distance: int | None = _i(4, 0, 50000)
    sensor_diagonal: int | None = _i(5, 0, 2000)
    lens_focal_length: int | None = _i(6, 0, 2000)
    image_size_block: ImageSizeBlock | None = _s(7, ImageSizeBlock)
    image_face_measurements_block: ImageFaceMeasurementsBlock | None = _s(8, ImageFaceMeasurementsBlock)
    image_colour_space: Code | None = _k(9, "ImageColourSpaceCode")
    reference_colour_mapping_block: ReferenceColourMappingBlock | None = _s(10, ReferenceColourMappingBlock)


@dataclass(frozen=True, kw_only=True)
class ImageRepresentation2DBlock(_Ext):
    representation_data_2d: bytes = _o(0, req=True)
    image_information_2d_block: ImageInformation2DBlock = _s(1, ImageInformation2DBlock, req=True)
    capture_device_2d_block: CaptureDevice2DBlock | None = _s(2, CaptureDevice2DBlock)


@dataclass(frozen=True, kw_only=True)
class ImageRepresentationBase(_Choice):
    image_representation_2d_block: ImageRepresentation2DBlock | None = _s(0, ImageRepresentation2DBlock)


@dataclass(frozen=True, kw_only=True)
class ImageRepresentation(_Choice):
    base: ImageRepresentationBase | None = _c(0, ImageRepresentationBase)
    extension_block: ExtensionBlock | None = _s(1, ExtensionBlock)


@dataclass(frozen=True, kw_only=True)
class RepresentationBlock(_Ext):
    representation_id: int = _i(0, req=True)
    image_representation: ImageRepresentation = _c(1, ImageRepresentation, req=True)
    capture_date_time_block: DateTimeBlock | None = _s(2, DateTimeBlock)
    quality_blocks: tuple[QualityBlock, ...] | None = _l(3, QualityBlock)
    pad_data_block: PADDataBlock | None = _s(4, PADDataBlock)
    session_id: int | None = _i(5)
    derived_from: int | None = _i(6)
    capture_device_block: CaptureDeviceBlock | None = _s(7, CaptureDeviceBlock)
    identity_metadata_block: IdentityMetadataBlock | None = _s(8, IdentityMetadataBlock)
    landmark_blocks: tuple[LandmarkBlock, ...] | None = _l(9, LandmarkBlock)

    @property
    def image_2d(self) -> ImageRepresentation2DBlock | None:
        """The 2D image block, or None when the representation is an extension alternative."""
        base = self.image_representation.base
        return base.image_representation_2d_block if base is not None else None


@dataclass(frozen=True, kw_only=True)
class FaceImageDataBlock(_Ext):
    """``FaceImageDataBlock ::= [APPLICATION 5] SEQUENCE`` (tag ``65``); the ICAO edition allows one
    representation block (``SEQUENCE SIZE (1) OF``)."""

    TAG: ClassVar[int] = 0x65
    version_block: VersionBlock = _s(0, VersionBlock, req=True)
    representation_blocks: tuple[RepresentationBlock, ...] = _l(1, RepresentationBlock, req=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.representation_blocks) != 1:
            raise _err("profile", f"FaceImageDataBlock: the ICAO profile allows one representation block, "
                                  f"{len(self.representation_blocks)} given")

    @property
    def representation(self) -> RepresentationBlock:
        return self.representation_blocks[0]

    def encode(self) -> bytes:
        return encode_tlv(self.TAG, self.encode_content())

    @classmethod
    def decode(cls, data: bytes) -> FaceImageDataBlock:
        """Exactly one DER ``65`` TLV; anything else is refused with a named reason."""
        data = bytes(data)
        try:
            tag, value, end = read_tlv(data, 0)
        except TlvError as e:
            raise _err("truncated", f"ISO/IEC 39794-5 FaceImageDataBlock: {e}") from e
        if tag != cls.TAG:
            raise _err("malformed", f"ISO/IEC 39794-5 block has tag {tag:X}, 65 (FaceImageDataBlock) expected")
        if end != len(data):
            raise _err("malformed", f"{len(data) - end} bytes after the FaceImageDataBlock")
        block = cls.decode_content(value, "FaceImageDataBlock")
        if block.encode() != data:
            raise _err("not_der", "the FaceImageDataBlock is not DER (long or padded lengths)")
        return block


def encode_bdb(block: FaceImageDataBlock) -> bytes:
    """The value of DO'7F2E' per the ICAO Application Profile: ``[1] { FaceImageDataBlock }``."""
    return encode_tlv(0xA1, block.encode())


def decode_bdb(value: bytes) -> FaceImageDataBlock:
    """The FaceImageDataBlock in the value of DO'7F2E' (``A1 { 65 ... }``)."""
    value = bytes(value)
    try:
        tag, inner, end = read_tlv(value, 0)
    except TlvError as e:
        raise _err("truncated", f"ISO/IEC 39794-5 biometric data block: {e}") from e
    if tag == FaceImageDataBlock.TAG:
        raise _err("profile", "ISO/IEC 39794-5 FaceImageDataBlock (65) directly in DO'7F2E'; the ICAO "
                              "Application Profile wraps it in [1] (A1)")
    if tag != 0xA1:
        raise _err("malformed", f"ISO/IEC 39794-5 biometric data block has tag {tag:X}, A1 expected")
    if end != len(value):
        raise _err("malformed", f"{len(value) - end} bytes after the biometric data block")
    return FaceImageDataBlock.decode(inner)
