// switchboard: the command-line client of switchboardd.

#include "client/cli.hpp"

int main(int argc, char** argv) {
  return sb::client::run_cli(argc, argv);
}
