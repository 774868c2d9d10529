// BatchTransport over Open MPI: non-blocking sends, probe-and-receive polling, one broadcast.
#include <fmt/format.h>
#include <mpi.h>

#include <cstdlib>
#include <list>
#include <utility>

#include "simhost/batch_mpi.hpp"

namespace simhost {

namespace {

bool g_started = false;

}  // namespace

void finish_mpi(int exit_code);

namespace {

class MpiTransport final : public BatchTransport {
 public:
  MpiTransport() {
    MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m_size);
  }
  ~MpiTransport() override { complete_sends(true); }

  int rank() const override { return m_rank; }
  int size() const override { return m_size; }
  std::string version() const override {
    char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int n = 0;
    MPI_Get_library_version(text, &n);
    std::string v(text, static_cast<std::size_t>(n));
    v = v.substr(0, v.find(','));  // "Open MPI v4.1.4"
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  }

  void send(int to, int tag, std::string bytes) override {
    complete_sends(false);
    m_sends.emplace_back();
    auto& s = m_sends.back();
    s.bytes = std::move(bytes);
    if (MPI_Isend(s.bytes.data(), static_cast<int>(s.bytes.size()), MPI_BYTE, to, tag,
                  MPI_COMM_WORLD, &s.request) != MPI_SUCCESS)
      throw Error(fmt::format("MPI: rank {} could not send to rank {}", m_rank, to));
  }

  bool poll(int& from, int& tag, std::string& bytes) override {
    complete_sends(false);
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
    if (!flag) return false;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    bytes.assign(static_cast<std::size_t>(count), '\0');
    MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    from = status.MPI_SOURCE;
    tag = status.MPI_TAG;
    return true;
  }

  void broadcast(std::string& bytes) override {
    unsigned long long n = bytes.size();
    MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    bytes.resize(static_cast<std::size_t>(n));
    MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD);
  }

  void finish(int exit_code) override {
    if (exit_code == 0 || exit_code == 1) complete_sends(true);
    finish_mpi(exit_code);
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return
  }

 private:
  struct Send {
    std::string bytes;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  // Frees the buffers of finished sends (all of them, waiting, when `wait`).
  void complete_sends(bool wait) {
    for (auto it = m_sends.begin(); it != m_sends.end();) {
      int done = 0;
      if (wait) {
        MPI_Wait(&it->request, MPI_STATUS_IGNORE);
        done = 1;
      } else {
        MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      }
      it = done ? m_sends.erase(it) : std::next(it);
    }
  }

  int m_rank = 0, m_size = 1;
  std::list<Send> m_sends;
};

}  // namespace

bool launched_by_mpi() noexcept {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

std::unique_ptr<BatchTransport> start_mpi() {
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw Error("MPI_Init_thread failed");
  g_started = true;
  return std::make_unique<MpiTransport>();
}

void finish_mpi(int exit_code) {
  if (!g_started) return;
  g_started = false;
  std::fflush(stdout);
  std::fflush(stderr);
  if (exit_code == 0 || exit_code == 1) {
    MPI_Finalize();
  } else {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
}

}  // namespace simhost
