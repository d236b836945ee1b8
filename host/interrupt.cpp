// host/interrupt.cpp: the signal handlers behind check_interrupt().
#include "interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

namespace golf::host {
namespace {

std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler may only use lock-free atomics");

// Any thread may take a signal, and two may arrive together: the exchange decides which one is first.
extern "C" void on_signal(int sig) {
  std::signal(SIGINT, SIG_DFL);  // from now on a signal of either kind ends the process at once
  std::signal(SIGTERM, SIG_DFL);
  if (g_signal.exchange(sig) != 0) ::kill(::getpid(), sig);  // this is the second: end now
}

}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

int interrupt_signal() { return g_signal.load(); }

std::string signal_name(int signal) {
  return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal " + std::to_string(signal);
}

Interrupted::Interrupted(int signal, const std::string& phase)
    : std::runtime_error("interrupted by " + signal_name(signal) + " during " + phase), signal_(signal), phase_(phase) {}

void check_interrupt(const std::string& phase) {
  if (int s = interrupt_signal()) throw Interrupted(s, phase);
}

}  // namespace golf::host
