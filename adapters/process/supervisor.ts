/**
 * Processes started by `npm start` stop when their supervisor is gone, even if it was
 * killed without a chance to stop them (SIGKILL, a closed terminal): the supervisor passes
 * its pid in `CUBBY_SUPERVISOR_PID`; we check it every second.
 */
export function exitWithSupervisor(stop: () => void, env: NodeJS.ProcessEnv = process.env): void {
  const pid = Number(env.CUBBY_SUPERVISOR_PID);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch {
      clearInterval(timer);
      stop();
    }
  }, 1000);
  timer.unref();
}
