export const addSeconds = (at: Date, seconds: number): Date =>
  new Date(at.getTime() + Math.round(seconds * 1000));
