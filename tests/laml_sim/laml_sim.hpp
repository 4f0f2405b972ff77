#pragma once
// What other test suites need from laml-sim without HTTP: Sids for each mode and the exact bytes
// the simulator serves for them.
//
//   laml_sim::sized_sid(1, 52428800)   a Sid whose WAV is exactly 50 MiB
//   laml_sim::absent_sid(1)            a Sid every form of which answers 404
//   laml_sim::normal_sid(1)            a v4-looking Sid with the --duration length
//   laml_sim::body_size(sid, laml_sim::audio_format::wav, duration)
//   laml_sim::fill_body(sid, format, duration, offset, span)   bytes [offset, offset + n)
//   laml_sim::metadata_json(sid, project_id, duration)         the exact .json body
//
// Link laml_sim_core and include "laml_sim/laml_sim.hpp".

#include "audio.hpp"
#include "metadata.hpp"
#include "sid_modes.hpp"
