/**
 * The API's refusal while a blackout is in force (POST /api/runs, a game day's start): 409 `blackout`,
 * naming the window and when it ends, as a halt's refusal names who raised it.
 */
import { ApiError } from '../api-error.js';
import type { BlackoutGate } from '../services.js';

export async function refuseDuringBlackout(gate: BlackoutGate): Promise<void> {
  const active = await gate.current();
  if (active)
    throw new ApiError(
      409,
      'blackout',
      `${active.reason}: nothing starts until it ends${active.until ? ` (${active.until})` : ''}`,
    );
}
