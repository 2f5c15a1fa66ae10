// The admin writes over HTTP (http/front_impl.hpp): the CLI's commands as
// routes, through the same FRONT DOOR.

#include "http/front_impl.hpp"

namespace sb::http {

void add_admin_routes(std::vector<route>&) {
  // filled in by the next change
}

} // namespace sb::http
