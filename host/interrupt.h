// host/interrupt.h: SIGINT and SIGTERM end a command at its next safe point; a second one ends it at once.
#ifndef GOLF_HOST_INTERRUPT_H_
#define GOLF_HOST_INTERRUPT_H_

#include <stdexcept>
#include <string>

namespace golf::host {

// Installs the handlers for SIGINT and SIGTERM. The first signal only records itself (safe points
// poll it); the handler then restores the default action, so a second signal ends the process at
// once. Idempotent. Thread rule: call from the main thread before starting others.
void install_interrupt_handlers();

// The first signal received (SIGINT or SIGTERM), or 0. Async-signal-safe to read.
int interrupt_signal();

// Thrown at a safe point after a signal: `phase` says where the command stopped.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& phase);
  int signal() const { return signal_; }
  const std::string& phase() const { return phase_; }
  int exit_code() const { return 128 + signal_; }  // 130 for SIGINT, 143 for SIGTERM

 private:
  int signal_;
  std::string phase_;
};

// A safe point: throws Interrupted(signal, phase) when a signal has arrived, else returns.
void check_interrupt(const std::string& phase);

// "SIGINT" or "SIGTERM".
std::string signal_name(int signal);

}  // namespace golf::host

#endif  // GOLF_HOST_INTERRUPT_H_
