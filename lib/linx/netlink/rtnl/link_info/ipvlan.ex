defmodule Linx.Netlink.Rtnl.LinkInfo.Ipvlan do
  @moduledoc """
  ipvlan and ipvtap data (`IFLA_IPVLAN_*`, `/usr/include/linux/if_link.h`), as `ip -d
  link show` prints it and `ip link add link DEV name NAME type ipvlan mode MODE [FLAG]`
  sets it.

  | id | field | wire |
  |---|---|---|
  | 1 | `mode` (`enum ipvlan_mode`: 0 l2, 1 l3, 2 l3s) | u16 |
  | 2 | `flags` (0 bridge, `IPVLAN_F_PRIVATE` 1, `IPVLAN_F_VEPA` 2) | u16 |

      iex> alias Linx.Netlink.Rtnl.LinkInfo.Ipvlan
      iex> Ipvlan.mode_name(%Ipvlan{mode: 2})
      :l3s
      iex> Ipvlan.flag_name(1)
      :private
  """

  use Linx.Netlink.Codec

  codec do
    attr 1, :mode, :u16
    attr 2, :flags, :u16
  end

  # enum ipvlan_mode (/usr/include/linux/if_link.h)
  @modes [l2: 0, l3: 1, l3s: 2]

  # IPVLAN_F_* (/usr/include/linux/if_link.h); "bridge" is the absence of both bits
  @flags [bridge: 0, private: 0x1, vepa: 0x2]

  @doc "The mode as an atom (`:l2`, `:l3`, `:l3s`). Accepts the struct or the integer."
  @spec mode_name(t() | non_neg_integer() | nil) :: atom() | {:unknown, integer()} | nil
  def mode_name(%__MODULE__{mode: mode}), do: mode_name(mode)
  def mode_name(nil), do: nil
  def mode_name(mode) when is_integer(mode), do: find(@modes, mode)

  @doc "The integer for a mode name; an unknown name raises `ArgumentError` naming it."
  @spec mode_value(atom()) :: 0..2
  def mode_value(name), do: value(@modes, name, "ipvlan mode")

  @doc "The port flag as an atom (`:bridge`, `:private`, `:vepa`)."
  @spec flag_name(t() | non_neg_integer() | nil) :: atom() | {:unknown, integer()} | nil
  def flag_name(%__MODULE__{flags: flags}), do: flag_name(flags)
  def flag_name(nil), do: nil
  def flag_name(flags) when is_integer(flags), do: find(@flags, flags)

  @doc "The integer for a flag name; an unknown name raises `ArgumentError` naming it."
  @spec flag_value(atom()) :: 0..2
  def flag_value(name), do: value(@flags, name, "ipvlan flag")

  defp find(table, v), do: Enum.find_value(table, {:unknown, v}, fn {n, x} -> x == v && n end)

  defp value(table, name, what) do
    case List.keyfind(table, name, 0) do
      {_, v} when is_atom(name) ->
        v

      _ ->
        raise ArgumentError,
              "unknown #{what} #{inspect(name)}, expected one of #{inspect(Keyword.keys(table))}"
    end
  end
end
