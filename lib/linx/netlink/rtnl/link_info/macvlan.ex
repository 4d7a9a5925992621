defmodule Linx.Netlink.Rtnl.LinkInfo.Macvlan do
  @moduledoc """
  macvlan and macvtap data (`IFLA_MACVLAN_*`, `/usr/include/linux/if_link.h`; newer
  attributes from the kernel's current uapi header), as `ip -d link show` prints it and
  `ip link add link DEV type macvlan mode MODE` sets it. Values stay the kernel's
  integers.

  | id | field | wire |
  |---|---|---|
  | 1 | `mode` (see `mode_name/1`) | u32 |
  | 2 | `flags` (see `flag_names/1`) | u16 |
  | 3 | `macaddr_mode` (request only: 0 add, 1 del, 2 flush, 3 set) | u32 |
  | 4 | `macaddr` (request only: the address to add or delete) | `Linx.MAC` |
  | 5 | `macaddr_data` (source mode: the allowed sources) | nested list of `IFLA_MACVLAN_MACADDR` |
  | 6 | `macaddr_count` | u32 |
  | 7 | `bc_queue_len` (requested broadcast queue length) | u32 |
  | 8 | `bc_queue_len_used` (the length in effect, the largest over the lower device's macvlans) | u32 |
  | 9 | `bc_cutoff` (reported only when not the default 1) | s32 |
  """

  use Linx.Netlink.Codec

  import Bitwise

  codec do
    attr 1, :mode, :u32
    attr 2, :flags, :u16
    attr 3, :macaddr_mode, :u32
    attr 4, :macaddr, Linx.MAC
    attr 5, :macaddr_data, {:nested_list, 4, Linx.MAC}
    attr 6, :macaddr_count, :u32
    attr 7, :bc_queue_len, :u32
    attr 8, :bc_queue_len_used, :u32
    attr 9, :bc_cutoff, :s32
  end

  # enum macvlan_mode (/usr/include/linux/if_link.h)
  @modes [private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16]

  # MACVLAN_FLAG_* (/usr/include/linux/if_link.h)
  @flags [nopromisc: 1, nodst: 2]

  @doc """
  The mode (`enum macvlan_mode`) as an atom: 1 `:private`, 2 `:vepa`, 4 `:bridge`,
  8 `:passthru`, 16 `:source`. Accepts the struct or the integer.

      iex> Linx.Netlink.Rtnl.LinkInfo.Macvlan.mode_name(4)
      :bridge
      iex> Linx.Netlink.Rtnl.LinkInfo.Macvlan.mode_name(3)
      {:unknown, 3}
  """
  @spec mode_name(t() | non_neg_integer() | nil) :: atom() | {:unknown, integer()} | nil
  def mode_name(%__MODULE__{mode: mode}), do: mode_name(mode)
  def mode_name(nil), do: nil

  def mode_name(mode) when is_integer(mode) do
    Enum.find_value(@modes, {:unknown, mode}, fn {name, v} -> v == mode && name end)
  end

  @doc """
  The integer for a mode name, for building a request.

      iex> Linx.Netlink.Rtnl.LinkInfo.Macvlan.mode_value(:passthru)
      8
  """
  @spec mode_value(atom()) :: pos_integer()
  def mode_value(name) when is_atom(name) do
    Keyword.get(@modes, name) ||
      raise ArgumentError,
            "unknown macvlan mode #{inspect(name)}, expected one of #{inspect(Keyword.keys(@modes))}"
  end

  @doc """
  The `MACVLAN_FLAG_*` bits set in `flags`: `:nopromisc` (1), `:nodst` (2).

      iex> Linx.Netlink.Rtnl.LinkInfo.Macvlan.flag_names(3)
      [:nopromisc, :nodst]
  """
  @spec flag_names(t() | non_neg_integer() | nil) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}), do: flag_names(flags)
  def flag_names(nil), do: []

  def flag_names(flags) when is_integer(flags),
    do: for({name, bit} <- @flags, (flags &&& bit) != 0, do: name)
end
