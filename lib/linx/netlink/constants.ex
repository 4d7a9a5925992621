defmodule Linx.Netlink.Constants do
  @moduledoc """
  Family-independent netlink constants (`/usr/include/linux/netlink.h`), as macros that
  expand to integer literals, so they work in guards and patterns.

      iex> import Linx.Netlink.Constants
      iex> nlm_f_dump()
      0x300
      iex> Bitwise.bor(nlm_f_request(), nlm_f_ack())
      5
  """

  @flags [
    nlm_f_request: 0x01,
    nlm_f_multi: 0x02,
    nlm_f_ack: 0x04,
    nlm_f_echo: 0x08,
    nlm_f_dump_intr: 0x10,
    nlm_f_dump_filtered: 0x20,
    nlm_f_root: 0x100,
    nlm_f_match: 0x200,
    nlm_f_atomic: 0x400,
    nlm_f_dump: 0x300,
    nlm_f_replace: 0x100,
    nlm_f_excl: 0x200,
    nlm_f_create: 0x400,
    nlm_f_append: 0x800,
    nlm_f_nonrec: 0x100,
    nlm_f_bulk: 0x200,
    nlm_f_capped: 0x100,
    nlm_f_ack_tlvs: 0x200,
    nlmsg_noop: 1,
    nlmsg_error: 2,
    nlmsg_done: 3,
    nlmsg_overrun: 4,
    nlmsg_min_type: 0x10
  ]

  for {name, value} <- @flags do
    @doc "`#{name |> Atom.to_string() |> String.upcase()}` = `#{value}`."
    defmacro unquote(name)(), do: unquote(value)
  end
end
