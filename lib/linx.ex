defmodule Linx do
  @moduledoc """
  Linux kernel-interface primitives for Elixir.

  Linx is a set of independent subsystems, each modelled on the kernel objects it
  drives: `Linx.Netlink` (rtnetlink sockets, links and the netlink wire layer) and the
  value types `Linx.IP`, `Linx.IP.Subnet` and `Linx.MAC`. The native parts are Rust
  crates built by `mix compile`.
  """
end
