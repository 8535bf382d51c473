"""A DG2 whose ISO/IEC 39794-5 face image data block carries every field of the ICAO Application Profile.

ICAO publishes such a sample beside the silver one (mandatory fields only); this one is built by the
project's encoder, so ``chip photo``, the decoder and the ASN.1 cross-check test have every OPTIONAL
component, every CHOICE alternative a profile block can hold at once, and every landmark kind and
coordinate form (in the landmark list) to read.
"""

from __future__ import annotations

import datetime as dt

from emrtd._dg2 import BiometricGroup, FaceImage, image_format
from emrtd._dg2_39794 import (
    AngleDataBlock,
    AnthropometricLandmark,
    AnthropometricLandmarkBase,
    CaptureDevice2DBlock,
    CaptureDeviceBlock,
    CaptureDeviceSpectral2DBlock,
    CoordinateCartesian2DUnsignedShortBlock,
    CoordinateCartesian3DUnsignedShortBlock,
    CoordinateTextureImageBlock,
    DateTimeBlock,
    ExpressionBlock,
    ExtendedDataBlock,
    ExtensionBlock,
    FaceImageDataBlock,
    IdentityMetadataBlock,
    ImageDataFormat,
    ImageFaceMeasurementsBlock,
    ImageInformation2DBlock,
    ImageRepresentation,
    ImageRepresentation2DBlock,
    ImageRepresentationBase,
    ImageSizeBlock,
    LandmarkBlock,
    LandmarkCoordinates,
    LandmarkCoordinatesBase,
    LandmarkKind,
    LandmarkKindBase,
    PADDataBlock,
    PADScoreBlock,
    PoseAngleBlock,
    PostAcquisitionProcessingBlock,
    PropertiesBlock,
    QualityBlock,
    ReferenceColourDefinitionAndValueBlock,
    ReferenceColourMappingBlock,
    RegistryIdBlock,
    RepresentationBlock,
    ScoreOrError,
    VersionBlock,
)

__all__ = ["full_face_block", "full_profile_dg2"]


def _when(t: dt.datetime) -> DateTimeBlock:
    return DateTimeBlock(year=t.year, month=t.month, day=t.day, hour=t.hour, minute=t.minute, second=t.second,
                         millisecond=t.microsecond // 1000)


def _landmarks(width: int, height: int) -> tuple[LandmarkBlock, ...]:
    """One landmark per kind (MPEG-4 point, anthropometric name / point name / point id, extension) and per
    coordinate form (2D, texture, 3D, extension)."""
    def anthropometric(**kw) -> LandmarkKind:
        return LandmarkKind(base=LandmarkKindBase(anthropometric_landmark=AnthropometricLandmark(
            base=AnthropometricLandmarkBase(**kw))))

    def xy(x, y) -> LandmarkCoordinates:
        return LandmarkCoordinates(base=LandmarkCoordinatesBase(
            coordinate_cartesian_2d_block=CoordinateCartesian2DUnsignedShortBlock(x=x, y=y)))

    cx, eye = width // 2, height * 45 // 100
    return (
        LandmarkBlock(landmark_kind=LandmarkKind(base=LandmarkKindBase(mpeg4_feature_point=39)),  # 12.1
                      landmark_coordinates=xy(cx - width // 8, eye)),
        LandmarkBlock(landmark_kind=anthropometric(anthropometric_landmark_name=22),  # centerPointOfPupilRight
                      landmark_coordinates=LandmarkCoordinates(base=LandmarkCoordinatesBase(
                          coordinate_texture_image_block=CoordinateTextureImageBlock(u_in_pixel=cx + width // 8,
                                                                                     v_in_pixel=eye)))),
        LandmarkBlock(landmark_kind=anthropometric(anthropometric_landmark_point_name=16),  # 03.01
                      landmark_coordinates=LandmarkCoordinates(base=LandmarkCoordinatesBase(
                          coordinate_cartesian_3d_block=CoordinateCartesian3DUnsignedShortBlock(x=cx, y=eye, z=40)))),
        LandmarkBlock(landmark_kind=anthropometric(anthropometric_landmark_point_id=37),  # prn (pronasale)
                      landmark_coordinates=xy(cx, height * 58 // 100)),
        LandmarkBlock(landmark_kind=LandmarkKind(base=LandmarkKindBase(anthropometric_landmark=AnthropometricLandmark(
            extension_block=ExtensionBlock()))), landmark_coordinates=LandmarkCoordinates(
                extension_block=ExtensionBlock())),
        LandmarkBlock(landmark_kind=LandmarkKind(extension_block=ExtensionBlock()),
                      landmark_coordinates=xy(cx, height * 3 // 4)),
    )  # fmt: skip


def full_face_block(image: bytes, width: int, height: int, *, captured: dt.datetime | None = None
                    ) -> FaceImageDataBlock:
    """A FaceImageDataBlock around ``image`` (JPEG or JPEG 2000) with every OPTIONAL field set."""
    captured = captured or dt.datetime(2026, 1, 15, 9, 30, 12, 250_000)
    fmt = {"jpeg": 2, "jpeg2000": 3}[image_format(image) or "jpeg"]
    org = 0x0101  # ISO/IEC JTC 1 SC 37 (CBEFF biometric organization)
    info = ImageInformation2DBlock(
        image_data_format=ImageDataFormat(code=fmt), face_image_kind_2d=0,
        post_acquisition_processing_block=PostAcquisitionProcessingBlock(
            rotated=False, cropped=True, down_sampled=True, white_balance_adjusted=False, multiply_compressed=False,
            interpolated=False, contrast_stretched=False, pose_corrected=False, multi_view_image=False,
            age_progressed=False, super_resolution_processed=False, normalised=False),
        lossy_transformation_attempts=2, camera_to_subject_distance=1500, sensor_diagonal=28, lens_focal_length=85,
        image_size_block=ImageSizeBlock(width=width, height=height),
        image_face_measurements_block=ImageFaceMeasurementsBlock(
            image_head_width=width * 6 // 10, image_inter_eye_distance=width // 4,
            image_eye_to_mouth_distance=height // 5, image_head_length=height * 7 // 10),
        image_colour_space=2,
        reference_colour_mapping_block=ReferenceColourMappingBlock(
            reference_colour_schema=b"sRGB IEC61966-2.1",
            reference_colour_definition_and_value_blocks=(ReferenceColourDefinitionAndValueBlock(
                reference_colour_definition=b"white patch", reference_colour_value=bytes([243, 243, 242])),)),
    )  # fmt: skip
    rep2d = ImageRepresentation2DBlock(
        representation_data_2d=image, image_information_2d_block=info,
        capture_device_2d_block=CaptureDevice2DBlock(
            capture_device_spectral_2d_block=CaptureDeviceSpectral2DBlock(white_light=True, near_infrared=False,
                                                                          thermal=False),
            capture_device_technology_id_2d=2))  # fmt: skip
    rep = RepresentationBlock(
        representation_id=0,
        image_representation=ImageRepresentation(base=ImageRepresentationBase(image_representation_2d_block=rep2d)),
        capture_date_time_block=_when(captured),
        quality_blocks=(QualityBlock(algorithm_id_block=RegistryIdBlock(organization=org, id=0x0001),
                                     score_or_error=ScoreOrError(score=72)),
                        QualityBlock(algorithm_id_block=RegistryIdBlock(organization=org, id=0x0002),
                                     score_or_error=ScoreOrError(error=0))),
        pad_data_block=PADDataBlock(
            decision=0,
            score_blocks=(PADScoreBlock(mechanism_id_block=RegistryIdBlock(organization=org, id=0x0010),
                                        score_or_error=ScoreOrError(score=3)),),
            extended_data_blocks=(ExtendedDataBlock(data_type_id_block=RegistryIdBlock(organization=org, id=0x0020),
                                                    data=b"pad-trace-v1"),),
            capture_context=0, supervision_level=2, risk_level=10, criteria_category=2,
            parameter=b"\x00\x01", challenges=(b"turn-left", b"blink"), capture_date_time_block=_when(captured)),
        session_id=4711, derived_from=0,
        capture_device_block=CaptureDeviceBlock(model_id_block=RegistryIdBlock(organization=org, id=0x0100),
                                                certification_id_blocks=(RegistryIdBlock(organization=org, id=1),)),
        identity_metadata_block=IdentityMetadataBlock(
            gender=3, eye_colour=4, hair_colour=5, subject_height=168,
            properties_block=PropertiesBlock(
                glasses=False, moustache=False, beard=False, teeth_visible=False, pupil_or_iris_not_visible=False,
                mouth_open=False, left_eye_patch=False, right_eye_patch=False, dark_glasses=False,
                biometric_absent=False, head_coverings_present=False),
            expression_block=ExpressionBlock(neutral=True, smile=False, raised_eyebrows=False,
                                             eyes_looking_away_from_the_camera=False, squinting=False, frowning=False),
            pose_angle_block=PoseAngleBlock(
                yaw_angle_block=AngleDataBlock(angle_value=-2, angle_uncertainty=3),
                pitch_angle_block=AngleDataBlock(angle_value=1, angle_uncertainty=3),
                roll_angle_block=AngleDataBlock(angle_value=0, angle_uncertainty=2))),
        landmark_blocks=_landmarks(width, height),
    )  # fmt: skip
    return FaceImageDataBlock(version_block=VersionBlock(generation=3, year=2019), representation_blocks=(rep,))


def full_profile_dg2(image: bytes, width: int, height: int, *, created: dt.datetime | None = None) -> bytes:
    """DG2 with one 39794-5 face (every profile field) around ``image``."""
    block = full_face_block(image, width, height)
    face = FaceImage.from_39794_block(block)
    return BiometricGroup.dg2([face], encoding="ISO39794", created=created).encode()
