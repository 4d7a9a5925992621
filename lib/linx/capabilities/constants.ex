defmodule Linx.Capabilities.Constants do
  @moduledoc """
  Capability names and numbers, as `/usr/include/linux/capability.h` defines them
  (`CAP_CHOWN 0` .. `CAP_CHECKPOINT_RESTORE 40`, `CAP_LAST_CAP`). A capability is the
  lowercase atom of its `CAP_*` name; a set of them maps to a 64-bit mask
  (`1 <<< number` per capability), the layout of `/proc/<pid>/status` and capget(2).

      iex> Linx.Capabilities.Constants.to_bit(:cap_net_admin)
      12
      iex> Linx.Capabilities.Constants.from_bit(21)
      :cap_sys_admin
      iex> Linx.Capabilities.Constants.to_bits([:cap_chown, :cap_kill])
      0x21
      iex> Linx.Capabilities.Constants.from_bits(0x21) |> Enum.sort()
      [:cap_chown, :cap_kill]

  A test checks this table against the header, both ways.
  """

  import Bitwise

  # linux/capability.h, in header order.
  @table [
    cap_chown: 0,
    cap_dac_override: 1,
    cap_dac_read_search: 2,
    cap_fowner: 3,
    cap_fsetid: 4,
    cap_kill: 5,
    cap_setgid: 6,
    cap_setuid: 7,
    cap_setpcap: 8,
    cap_linux_immutable: 9,
    cap_net_bind_service: 10,
    cap_net_broadcast: 11,
    cap_net_admin: 12,
    cap_net_raw: 13,
    cap_ipc_lock: 14,
    cap_ipc_owner: 15,
    cap_sys_module: 16,
    cap_sys_rawio: 17,
    cap_sys_chroot: 18,
    cap_sys_ptrace: 19,
    cap_sys_pacct: 20,
    cap_sys_admin: 21,
    cap_sys_boot: 22,
    cap_sys_nice: 23,
    cap_sys_resource: 24,
    cap_sys_time: 25,
    cap_sys_tty_config: 26,
    cap_mknod: 27,
    cap_lease: 28,
    cap_audit_write: 29,
    cap_audit_control: 30,
    cap_setfcap: 31,
    cap_mac_override: 32,
    cap_mac_admin: 33,
    cap_syslog: 34,
    cap_wake_alarm: 35,
    cap_block_suspend: 36,
    cap_audit_read: 37,
    cap_perfmon: 38,
    cap_bpf: 39,
    cap_checkpoint_restore: 40
  ]

  # CAP_LAST_CAP in linux/capability.h.
  @last_cap 40

  @all MapSet.new(Keyword.keys(@table))
  @known_mask Enum.reduce(@table, 0, fn {_, bit}, acc -> acc ||| 1 <<< bit end)

  @typedoc "A capability: the lowercase atom of its `CAP_*` name."
  @type cap :: atom()

  @doc "Every capability of the table, as a MapSet."
  @spec all() :: MapSet.t(cap())
  def all, do: @all

  @doc "`{name, number}` pairs, lowest number first."
  @spec table() :: [{cap(), non_neg_integer()}]
  def table, do: @table

  @doc "The highest capability number of the table (`CAP_LAST_CAP`)."
  @spec last_cap() :: non_neg_integer()
  def last_cap, do: @last_cap

  @doc "The mask with every known capability's bit set."
  @spec known_mask() :: non_neg_integer()
  def known_mask, do: @known_mask

  @doc "The number of capability `cap`, or nil if it is not one."
  @spec to_bit(term()) :: non_neg_integer() | nil
  def to_bit(cap)

  for {name, bit} <- @table do
    def to_bit(unquote(name)), do: unquote(bit)
  end

  def to_bit(_other), do: nil

  @doc "The capability with number `bit`, or `:unknown`."
  @spec from_bit(integer()) :: cap() | :unknown
  def from_bit(bit)

  for {name, bit} <- @table do
    def from_bit(unquote(bit)), do: unquote(name)
  end

  def from_bit(bit) when is_integer(bit), do: :unknown

  @doc """
  The mask of an enumerable of capabilities. Raises `ArgumentError` naming the first
  element that is not a capability.
  """
  @spec to_bits(Enumerable.t()) :: non_neg_integer()
  def to_bits(caps) do
    Enum.reduce(caps, 0, fn cap, acc ->
      case to_bit(cap) do
        nil -> raise ArgumentError, "not a capability: #{inspect(cap)}"
        bit -> acc ||| 1 <<< bit
      end
    end)
  end

  @doc "The capabilities whose bits are set in `mask`; unknown bits are left out."
  @spec from_bits(non_neg_integer()) :: MapSet.t(cap())
  def from_bits(mask) when is_integer(mask) and mask >= 0 do
    for {name, bit} <- @table, (mask &&& 1 <<< bit) != 0, into: MapSet.new(), do: name
  end
end
