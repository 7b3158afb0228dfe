// denseface in the browser: 520 dense 3D facial landmarks, the 68 subset and head pose, with
// the shipped ONNX network and the YuNet face detector in ONNX Runtime Web. See docs/web.md.
//
//   import { DenseFace, FaceTracker } from 'denseface-web';
//   const df = await DenseFace.create({ model: 'models/dense520_mbv1_050.onnx', eyeModel: 'models/eyes_v1.onnx',
//                                       detectorOptions: { model: 'models/face_detection_yunet_2026may.onnx' } });
//   const faces = await df.predict(imageOrVideoOrCanvas);
//   const tracker = new FaceTracker(df);
//   const smoothed = await tracker.update(videoElement, video.currentTime);

export { DenseFace, ConfigError, PREDICT_DEFAULTS, TTA_MODES, predictConfig, validateBoxes } from './denseface.js';
export { FaceTracker, FaceSmoother, OneEuroFilter, SMOOTHING_DEFAULTS, TRACKER_DEFAULTS } from './tracking.js';
export { LANDMARKS68_300W, LandmarkNetwork, ModelError, POINTS, hasWasmSimd, modelConfig } from './network.js';
export { decodeImageFile, ImageDecodeError, PixelReader } from './image.js';
export { estimatePose, axisDirections } from './pose.js';
export { FACE_TOLERANCE, FACING_MIN_NZ, faceVisibility, outwardTriangles } from './visibility.js';
export { EyeStage, foreshorteningGate } from './eyes.js';
export { default as packageData } from './generated/data.js';
export { DetectorError, YuNetDetector } from './detector.js';
export { RuntimeError, setUpRuntime } from './runtime.js';
export { detectionView } from './image.js';
