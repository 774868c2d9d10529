// The MPI transport of batches (Open MPI): what `mpirun -n K simhost batch ...` runs on.
#pragma once

#include <memory>

#include "simhost/batch.hpp"

namespace simhost {

/// True when this process was started by an MPI launcher (mpirun, mpiexec, srun), read from
/// the environment those set (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK).
bool launched_by_mpi() noexcept;

/// Initialises MPI (MPI_THREAD_FUNNELED: MPI is used by the thread that calls run_batch(),
/// which must be this one) and returns the transport over MPI_COMM_WORLD. Throws Error when
/// MPI fails to start.
std::unique_ptr<BatchTransport> start_mpi();

/// Ends MPI (BatchTransport::finish() does it on the front end's way out; the host calls it
/// again after the interpreter ends, for exits that did not pass there): MPI_Finalize for a
/// rank that ended normally (exit code 0 or 1), else MPI_Abort with `exit_code`, so that no
/// other rank waits for this one forever. Does nothing when MPI is not running.
void finish_mpi(int exit_code);

}  // namespace simhost
