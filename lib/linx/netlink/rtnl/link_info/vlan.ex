defmodule Linx.Netlink.Rtnl.LinkInfo.Vlan.Flags do
  @moduledoc """
  `struct ifla_vlan_flags` (`IFLA_VLAN_FLAGS`, `/usr/include/linux/if_link.h`): `flags`
  holds the values and `mask` the bits concerned (a request changes only the masked
  bits; a dump reports every flag with mask `0xffffffff`).

  Bits (`VLAN_FLAG_*`, `/usr/include/linux/if_vlan.h`): 1 `reorder_hdr`, 2 `gvrp`,
  4 `loose_binding`, 8 `mvrp`, 16 `bridge_binding`.

      iex> alias Linx.Netlink.Rtnl.LinkInfo.Vlan.Flags
      iex> Flags.new(reorder_hdr: false, gvrp: true)
      %Flags{flags: 2, mask: 3}
      iex> Flags.names(%Flags{flags: 3, mask: 0xFFFFFFFF})
      [:reorder_hdr, :gvrp]
  """

  import Bitwise

  defstruct flags: 0, mask: 0

  @type t :: %__MODULE__{flags: non_neg_integer(), mask: non_neg_integer()}

  # VLAN_FLAG_* (/usr/include/linux/if_vlan.h)
  @bits [reorder_hdr: 0x1, gvrp: 0x2, loose_binding: 0x4, mvrp: 0x8, bridge_binding: 0x10]

  @doc "The flag names and their bits."
  @spec bits() :: keyword(pos_integer())
  def bits, do: @bits

  @doc "A change request from `name: boolean` pairs; an unknown name or non-boolean raises."
  @spec new(keyword()) :: t()
  def new(opts) when is_list(opts) do
    Enum.reduce(opts, %__MODULE__{}, fn
      {name, on?}, acc when is_atom(name) and is_boolean(on?) ->
        bit =
          Keyword.get(@bits, name) ||
            raise ArgumentError,
                  "unknown vlan flag #{inspect(name)}, expected one of #{inspect(Keyword.keys(@bits))}"

        %{acc | mask: acc.mask ||| bit, flags: if(on?, do: acc.flags ||| bit, else: acc.flags)}

      other, _ ->
        raise ArgumentError, "a vlan flag is name: boolean, got: #{inspect(other)}"
    end)
  end

  @doc "The names of the flags set (within the mask)."
  @spec names(t()) :: [atom()]
  def names(%__MODULE__{flags: flags, mask: mask}),
    do: for({name, bit} <- @bits, (flags &&& mask &&& bit) != 0, do: name)

  @doc "Decodes the 8-byte structure; any other length is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(<<flags::native-unsigned-32, mask::native-unsigned-32>>),
    do: %__MODULE__{flags: flags, mask: mask}

  def decode(_), do: nil

  @doc "Encodes the structure (two native-endian u32)."
  @spec encode(t()) :: <<_::64>>
  def encode(%__MODULE__{flags: flags, mask: mask})
      when flags in 0..0xFFFFFFFF and mask in 0..0xFFFFFFFF,
      do: <<flags::native-unsigned-32, mask::native-unsigned-32>>
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Vlan.QosMapping do
  @moduledoc """
  `struct ifla_vlan_qos_mapping` (`/usr/include/linux/if_link.h`), one entry of
  `IFLA_VLAN_EGRESS_QOS` (`from` an skb priority, `to` a VLAN PCP 0..7) or
  `IFLA_VLAN_INGRESS_QOS` (`from` a PCP 0..7, `to` an skb priority).
  """

  @enforce_keys [:from, :to]
  defstruct [:from, :to]

  @type t :: %__MODULE__{from: non_neg_integer(), to: non_neg_integer()}

  @doc "Decodes the 8-byte structure; any other length is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(<<from::native-unsigned-32, to::native-unsigned-32>>),
    do: %__MODULE__{from: from, to: to}

  def decode(_), do: nil

  @doc "Encodes the structure (two native-endian u32)."
  @spec encode(t()) :: <<_::64>>
  def encode(%__MODULE__{from: from, to: to}) when from in 0..0xFFFFFFFF and to in 0..0xFFFFFFFF,
    do: <<from::native-unsigned-32, to::native-unsigned-32>>
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Vlan do
  @moduledoc """
  802.1Q/802.1ad VLAN data (`IFLA_VLAN_*`, `/usr/include/linux/if_link.h`), as `ip -d
  link show` prints it and `ip link add link DEV name NAME type vlan id ID ...` sets it.

  | id | field | wire |
  |---|---|---|
  | 1 | `id` (1..4094) | u16 |
  | 2 | `flags` | `Vlan.Flags` (`struct ifla_vlan_flags`) |
  | 3 | `egress_qos` (skb priority -> PCP) | nested list of `Vlan.QosMapping` |
  | 4 | `ingress_qos` (PCP -> skb priority) | nested list of `Vlan.QosMapping` |
  | 5 | `protocol` (`ETH_P_8021Q` 0x8100 or `ETH_P_8021AD` 0x88a8) | be16 |

  The QoS lists are nests of `IFLA_VLAN_QOS_MAPPING` (1) entries.

      iex> alias Linx.Netlink.Rtnl.LinkInfo.Vlan
      iex> Vlan.protocol_name(0x88A8)
      :"802.1ad"
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.LinkInfo.Vlan

  codec do
    attr 1, :id, :u16
    attr 2, :flags, Vlan.Flags
    attr 3, :egress_qos, {:nested_list, 1, Vlan.QosMapping}
    attr 4, :ingress_qos, {:nested_list, 1, Vlan.QosMapping}
    attr 5, :protocol, :be16
  end

  # ETH_P_8021Q / ETH_P_8021AD (/usr/include/linux/if_ether.h)
  @protocols [{:"802.1Q", 0x8100}, {:"802.1ad", 0x88A8}]

  @doc """
  The protocol as `:"802.1Q"` or `:"802.1ad"` (the spelling `ip` uses). Accepts the
  struct or the integer.
  """
  @spec protocol_name(t() | non_neg_integer() | nil) :: atom() | {:unknown, integer()} | nil
  def protocol_name(%__MODULE__{protocol: p}), do: protocol_name(p)
  def protocol_name(nil), do: nil

  def protocol_name(p) when is_integer(p),
    do: Enum.find_value(@protocols, {:unknown, p}, fn {name, v} -> v == p && name end)

  @doc """
  The EtherType for a protocol name (`:"802.1Q"`/`:"802.1q"`, `:"802.1ad"`), or the
  integer itself when it is one of the two.

      iex> Linx.Netlink.Rtnl.LinkInfo.Vlan.protocol_value(:"802.1q")
      0x8100
  """
  @spec protocol_value(atom() | integer()) :: 0x8100 | 0x88A8
  def protocol_value(p) when p in [:"802.1Q", :"802.1q", 0x8100], do: 0x8100
  def protocol_value(p) when p in [:"802.1ad", :"802.1AD", 0x88A8], do: 0x88A8

  def protocol_value(p),
    do:
      raise(
        ArgumentError,
        "unknown vlan protocol #{inspect(p)}, expected :\"802.1Q\" or :\"802.1ad\" (0x8100 or 0x88a8)"
      )
end
