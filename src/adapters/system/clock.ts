import type { Clock } from "../../service/ports.js";

export const systemClock: Clock = { now: () => new Date() };
