// The runtime passes signals to runc as numbers; the parsing lives in core.
export { parseSignal } from '../core/signals.ts';
