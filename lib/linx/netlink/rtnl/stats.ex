defmodule Linx.Netlink.Rtnl.Stats.Counters do
  @moduledoc false
  # Defines a struct of native-endian u64 counters in wire order, with decode/1 (never
  # raises: missing counters stay nil, extra trailing bytes are ignored) and encode/1
  # (nil as 0). Used for the fixed kernel stats structs carried by RTM_NEWSTATS.

  defmacro __using__(fields) do
    quote bind_quoted: [fields: fields] do
      defstruct fields

      @type t :: %__MODULE__{}

      @doc "The counter names, in wire order."
      @spec counters() :: [atom()]
      def counters, do: unquote(fields)

      @doc "Decodes the counters present in `bin` (8 bytes each, native-endian)."
      @spec decode(binary()) :: t()
      def decode(bin) when is_binary(bin) do
        values = for <<v::native-unsigned-64 <- bin>>, do: v
        struct(__MODULE__, Enum.zip(unquote(fields), values))
      end

      @doc "Encodes every counter (nil as 0)."
      @spec encode(t()) :: binary()
      def encode(%__MODULE__{} = s) do
        for name <- unquote(fields), into: <<>>, do: <<Map.get(s, name) || 0::native-64>>
      end
    end
  end
end

defmodule Linx.Netlink.Rtnl.Stats.BridgeMcast do
  @moduledoc """
  `struct br_mcast_stats` (`/usr/include/linux/if_bridge.h`, `BRIDGE_XSTATS_MCAST`): a
  bridge's or bridge port's IGMP/MLD counters. Each `[BR_MCAST_DIR_SIZE]` array of the
  C struct is two fields here, `_rx` and `_tx`.
  """
  use Linx.Netlink.Rtnl.Stats.Counters, [
    :igmp_v1queries_rx,
    :igmp_v1queries_tx,
    :igmp_v2queries_rx,
    :igmp_v2queries_tx,
    :igmp_v3queries_rx,
    :igmp_v3queries_tx,
    :igmp_leaves_rx,
    :igmp_leaves_tx,
    :igmp_v1reports_rx,
    :igmp_v1reports_tx,
    :igmp_v2reports_rx,
    :igmp_v2reports_tx,
    :igmp_v3reports_rx,
    :igmp_v3reports_tx,
    :igmp_parse_errors,
    :mld_v1queries_rx,
    :mld_v1queries_tx,
    :mld_v2queries_rx,
    :mld_v2queries_tx,
    :mld_leaves_rx,
    :mld_leaves_tx,
    :mld_v1reports_rx,
    :mld_v1reports_tx,
    :mld_v2reports_rx,
    :mld_v2reports_tx,
    :mld_parse_errors,
    :mcast_bytes_rx,
    :mcast_bytes_tx,
    :mcast_packets_rx,
    :mcast_packets_tx
  ]
end

defmodule Linx.Netlink.Rtnl.Stats.BridgeStp do
  @moduledoc """
  `struct bridge_stp_xstats` (`/usr/include/linux/if_bridge.h`, `BRIDGE_XSTATS_STP`): a
  bridge port's STP counters.
  """
  use Linx.Netlink.Rtnl.Stats.Counters, [
    :transition_blk,
    :transition_fwd,
    :rx_bpdu,
    :tx_bpdu,
    :rx_tcn,
    :tx_tcn
  ]
end

defmodule Linx.Netlink.Rtnl.Stats.HwStats64 do
  @moduledoc """
  `struct rtnl_hw_stats64` (`/usr/include/linux/if_link.h`,
  `IFLA_OFFLOAD_XSTATS_L3_STATS`): the counters of hardware-offloaded L3 traffic.
  """
  use Linx.Netlink.Rtnl.Stats.Counters, [
    :rx_packets,
    :tx_packets,
    :rx_bytes,
    :tx_bytes,
    :rx_errors,
    :tx_errors,
    :rx_dropped,
    :tx_dropped,
    :multicast
  ]
end

defmodule Linx.Netlink.Rtnl.Stats.MplsLinkStats do
  @moduledoc """
  `struct mpls_link_stats` (`/usr/include/linux/mpls.h`, `MPLS_STATS_LINK`): a link's
  MPLS counters, reported in `IFLA_STATS_AF_SPEC` when MPLS is enabled on it.
  """
  use Linx.Netlink.Rtnl.Stats.Counters, [
    :rx_packets,
    :tx_packets,
    :rx_bytes,
    :tx_bytes,
    :rx_errors,
    :tx_errors,
    :rx_dropped,
    :tx_dropped,
    :rx_noroute
  ]
end

defmodule Linx.Netlink.Rtnl.Stats.BridgeVlan do
  @moduledoc """
  `struct bridge_vlan_xstats` (`/usr/include/linux/if_bridge.h`, `BRIDGE_XSTATS_VLAN`):
  the per-VLAN counters of a VLAN-filtering bridge or port.
  """

  defstruct [:rx_bytes, :rx_packets, :tx_bytes, :tx_packets, :vid, :flags]

  @type t :: %__MODULE__{}

  @doc "Decodes the 40-byte struct; anything shorter is nil."
  @spec decode(binary()) :: t() | nil
  def decode(
        <<rb::native-64, rp::native-64, tb::native-64, tp::native-64, vid::native-16,
          flags::native-16, _::binary>>
      ),
      do: %__MODULE__{
        rx_bytes: rb,
        rx_packets: rp,
        tx_bytes: tb,
        tx_packets: tp,
        vid: vid,
        flags: flags
      }

  def decode(_), do: nil

  @doc "Encodes the struct (nil as 0, with the trailing 4 pad bytes)."
  @spec encode(t()) :: binary()
  def encode(%__MODULE__{} = v) do
    <<v.rx_bytes || 0::native-64, v.rx_packets || 0::native-64, v.tx_bytes || 0::native-64,
      v.tx_packets || 0::native-64, v.vid || 0::native-16, v.flags || 0::native-16, 0::32>>
  end
end

defmodule Linx.Netlink.Rtnl.Stats.BridgeXStats do
  @moduledoc """
  The bridge part of `IFLA_STATS_LINK_XSTATS` (on a bridge) and
  `IFLA_STATS_LINK_XSTATS_SLAVE` (on a bridge port): the nest of `BRIDGE_XSTATS_*`
  attributes (`/usr/include/linux/if_bridge.h`). `vlans` lists the per-VLAN counters
  (one `BRIDGE_XSTATS_VLAN` each), `mcast` the IGMP/MLD counters, `stp` the STP
  counters (ports only).
  """

  alias Linx.Netlink.Rtnl.Stats.{BridgeMcast, BridgeStp, BridgeVlan}

  defstruct vlans: [], mcast: nil, stp: nil

  @type t :: %__MODULE__{
          vlans: [BridgeVlan.t()],
          mcast: BridgeMcast.t() | nil,
          stp: BridgeStp.t() | nil
        }

  # BRIDGE_XSTATS_VLAN 1, _MCAST 2, _PAD 3 (64-bit alignment filler), _STP 4
  @doc "Decodes the nest; never raises."
  @spec decode(binary()) :: t()
  def decode(bin) when is_binary(bin) do
    %__MODULE__{}
    |> Linx.Netlink.Codec.Types.walk(bin, fn
      1, v, acc -> %{acc | vlans: acc.vlans ++ List.wrap(BridgeVlan.decode(v))}
      2, v, acc -> %{acc | mcast: BridgeMcast.decode(v)}
      4, v, acc -> %{acc | stp: BridgeStp.decode(v)}
      _, _, acc -> acc
    end)
  end

  @doc "Encodes the nest."
  @spec encode(t()) :: iodata()
  def encode(%__MODULE__{} = x) do
    Enum.map(x.vlans, &Linx.Netlink.Attr.encode_one({1, BridgeVlan.encode(&1)})) ++
      if(x.mcast, do: [Linx.Netlink.Attr.encode_one({2, BridgeMcast.encode(x.mcast)})], else: []) ++
      if(x.stp, do: [Linx.Netlink.Attr.encode_one({4, BridgeStp.encode(x.stp)})], else: [])
  end
end

defmodule Linx.Netlink.Rtnl.Stats.XStats do
  @moduledoc """
  `IFLA_STATS_LINK_XSTATS` / `IFLA_STATS_LINK_XSTATS_SLAVE`: kind-specific statistics,
  a nest keyed by `LINK_XSTATS_TYPE_*` (`/usr/include/linux/if_link.h`). `bridge` is a
  `Linx.Netlink.Rtnl.Stats.BridgeXStats`; `bond` (802.3ad counters) stays the raw nest.
  """

  alias Linx.Netlink.Rtnl.Stats.BridgeXStats

  defstruct [:bridge, :bond]

  @type t :: %__MODULE__{bridge: BridgeXStats.t() | nil, bond: binary() | nil}

  # LINK_XSTATS_TYPE_BRIDGE 1, LINK_XSTATS_TYPE_BOND 2
  @doc "Decodes the nest; never raises."
  @spec decode(binary()) :: t()
  def decode(bin) when is_binary(bin) do
    Linx.Netlink.Codec.Types.walk(%__MODULE__{}, bin, fn
      1, v, acc -> %{acc | bridge: BridgeXStats.decode(v)}
      2, v, acc -> %{acc | bond: v}
      _, _, acc -> acc
    end)
  end

  @doc "Encodes the nest."
  @spec encode(t()) :: iodata()
  def encode(%__MODULE__{} = x) do
    if(x.bridge, do: [Linx.Netlink.Attr.encode_one({1, BridgeXStats.encode(x.bridge)})], else: []) ++
      if(x.bond, do: [Linx.Netlink.Attr.encode_one({2, x.bond})], else: [])
  end
end

defmodule Linx.Netlink.Rtnl.Stats.OffloadXStats do
  @moduledoc """
  `IFLA_STATS_LINK_OFFLOAD_XSTATS` (`/usr/include/linux/if_link.h`): counters of traffic
  a device handled in hardware.

    * `cpu_hit` — `IFLA_OFFLOAD_XSTATS_CPU_HIT`, the traffic that reached the CPU, as a
      `Linx.Netlink.Rtnl.Stats.Link64` (only devices with offload report it);
    * `hw_s_info` — `IFLA_OFFLOAD_XSTATS_HW_S_INFO`: per hardware-stats kind whether it
      was requested and is in use, e.g. `%{l3_stats: %{request: false, used: false}}`;
    * `l3_stats` — `IFLA_OFFLOAD_XSTATS_L3_STATS`, a
      `Linx.Netlink.Rtnl.Stats.HwStats64`, present once L3 stats are enabled.
  """

  alias Linx.Netlink.Rtnl.Stats.{HwStats64, Link64}

  defstruct [:cpu_hit, :hw_s_info, :l3_stats]

  @type t :: %__MODULE__{
          cpu_hit: Link64.t() | nil,
          hw_s_info:
            %{optional(atom() | integer()) => %{request: boolean(), used: boolean()}} | nil,
          l3_stats: HwStats64.t() | nil
        }

  # IFLA_OFFLOAD_XSTATS_CPU_HIT 1, _HW_S_INFO 2, _L3_STATS 3
  @doc "Decodes the nest; never raises."
  @spec decode(binary()) :: t()
  def decode(bin) when is_binary(bin) do
    Linx.Netlink.Codec.Types.walk(%__MODULE__{}, bin, fn
      1, v, acc -> %{acc | cpu_hit: Link64.decode(v)}
      2, v, acc -> %{acc | hw_s_info: decode_hw_s_info(v)}
      3, v, acc -> %{acc | l3_stats: HwStats64.decode(v)}
      _, _, acc -> acc
    end)
  end

  # A nest keyed by the offload kind (IFLA_OFFLOAD_XSTATS_L3_STATS = 3), each a nest of
  # IFLA_OFFLOAD_XSTATS_HW_S_INFO_REQUEST 1 and _USED 2 (u8 each).
  defp decode_hw_s_info(bin) do
    Linx.Netlink.Codec.Types.walk(%{}, bin, fn kind, v, acc ->
      info =
        Linx.Netlink.Codec.Types.walk(%{request: false, used: false}, v, fn
          1, <<b, _::binary>>, i -> %{i | request: b != 0}
          2, <<b, _::binary>>, i -> %{i | used: b != 0}
          _, _, i -> i
        end)

      Map.put(acc, if(kind == 3, do: :l3_stats, else: kind), info)
    end)
  end

  @doc "Encodes the nest."
  @spec encode(t()) :: iodata()
  def encode(%__MODULE__{} = x) do
    hw =
      for {kind, info} <- x.hw_s_info || %{} do
        id = if kind == :l3_stats, do: 3, else: kind

        Linx.Netlink.Attr.encode_one(
          {id,
           [
             Linx.Netlink.Attr.encode_one({1, <<bool(info[:request])>>}),
             Linx.Netlink.Attr.encode_one({2, <<bool(info[:used])>>})
           ]}
        )
      end

    if(x.cpu_hit, do: [Linx.Netlink.Attr.encode_one({1, Link64.encode(x.cpu_hit)})], else: []) ++
      if(x.hw_s_info, do: [Linx.Netlink.Attr.encode_one({2, hw})], else: []) ++
      if(x.l3_stats,
        do: [Linx.Netlink.Attr.encode_one({3, HwStats64.encode(x.l3_stats)})],
        else: []
      )
  end

  defp bool(true), do: 1
  defp bool(_), do: 0
end

defmodule Linx.Netlink.Rtnl.Stats.AfSpec do
  @moduledoc """
  `IFLA_STATS_AF_SPEC`: per address family statistics, a nest keyed by the family.
  Only MPLS (`AF_MPLS`, with `MPLS_STATS_LINK`, `/usr/include/linux/mpls.h`) reports
  any; it appears once MPLS input is enabled on the link.
  """

  alias Linx.Netlink.Rtnl.Stats.MplsLinkStats

  defstruct [:mpls]

  @type t :: %__MODULE__{mpls: MplsLinkStats.t() | nil}

  # AF_MPLS (x86_64-linux-gnu/bits/socket.h)
  @af_mpls 28
  @mpls_stats_link 1

  @doc "Decodes the nest; never raises."
  @spec decode(binary()) :: t()
  def decode(bin) when is_binary(bin) do
    Linx.Netlink.Codec.Types.walk(%__MODULE__{}, bin, fn
      @af_mpls, v, acc ->
        Linx.Netlink.Codec.Types.walk(acc, v, fn
          @mpls_stats_link, s, a -> %{a | mpls: MplsLinkStats.decode(s)}
          _, _, a -> a
        end)

      _, _, acc ->
        acc
    end)
  end

  @doc "Encodes the nest."
  @spec encode(t()) :: iodata()
  def encode(%__MODULE__{mpls: nil}), do: []

  def encode(%__MODULE__{mpls: mpls}) do
    [
      Linx.Netlink.Attr.encode_one(
        {@af_mpls, Linx.Netlink.Attr.encode_one({@mpls_stats_link, MplsLinkStats.encode(mpls)})}
      )
    ]
  end
end

defmodule Linx.Netlink.Rtnl.Stats do
  @moduledoc """
  Link statistics: `RTM_GETSTATS`/`RTM_NEWSTATS` messages (`struct if_stats_msg` plus
  `IFLA_STATS_*` attributes, `/usr/include/linux/if_link.h`), as `ip stats show` and
  `ip -s link` report them.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      {:ok, stats} = Linx.Netlink.Rtnl.Stats.get(sock, "eth0")
      stats.link.rx_bytes

  By default only the 64-bit link counters are requested (`link`, a
  `Linx.Netlink.Rtnl.Stats.Link64`). The `:groups` option asks for more:

    * `:link_64` — `IFLA_STATS_LINK_64`, the `link` field;
    * `:xstats` — kind-specific statistics of the device (a bridge's IGMP/MLD and
      per-VLAN counters), the `xstats` field (`Linx.Netlink.Rtnl.Stats.XStats`);
    * `:xstats_slave` — those of its role as a port (a bridge port's STP and IGMP/MLD
      counters), the `xstats_slave` field;
    * `:offload_xstats` — offloaded-traffic counters, the `offload_xstats` field
      (`Linx.Netlink.Rtnl.Stats.OffloadXStats`);
    * `:af_spec` — per address family counters (MPLS), the `af_spec` field
      (`Linx.Netlink.Rtnl.Stats.AfSpec`).

  `groups: :all` asks for all five. A group a device does not have is nil.
  Kernel failures are `{:error, %Linx.Netlink.Error{}}` naming the operation and the
  link.
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.Netlink.{Error, Message, Request}
  alias Linx.Netlink.Rtnl.Link

  # /usr/include/linux/rtnetlink.h
  @rtm_newstats 92
  @rtm_getstats 94

  codec do
    header do
      field :family, :u8
      pad 3
      field :ifindex, :u32
      field :filter_mask, :u32
    end

    # /usr/include/linux/if_link.h, enum IFLA_STATS_*
    attr 1, :link, Linx.Netlink.Rtnl.Stats.Link64
    attr 2, :xstats, Linx.Netlink.Rtnl.Stats.XStats
    attr 3, :xstats_slave, Linx.Netlink.Rtnl.Stats.XStats
    attr 4, :offload_xstats, Linx.Netlink.Rtnl.Stats.OffloadXStats
    attr 5, :af_spec, Linx.Netlink.Rtnl.Stats.AfSpec
  end

  # IFLA_STATS_FILTER_BIT(ATTR) = 1 << (ATTR - 1), /usr/include/linux/if_link.h
  @groups [link_64: 1, xstats: 2, xstats_slave: 3, offload_xstats: 4, af_spec: 5]

  @typedoc "A statistics group (see the module documentation)."
  @type group :: :link_64 | :xstats | :xstats_slave | :offload_xstats | :af_spec

  @typedoc "Options of `get/3` and `list/2`: `:groups`, a list of groups or `:all`."
  @type opts :: [groups: [group()] | :all]

  @typedoc "Something the verbs accept as their first argument (a socket or a connection)."
  @type transport :: Linx.Netlink.Request.transport()

  @doc """
  The statistics of one link, by name or ifindex (`RTM_GETSTATS`, like `ip stats show
  dev LINK group link`). A missing link is `{:error, %Linx.Netlink.Error{errno:
  :enodev}}` naming it. Unprivileged.
  """
  @spec get(transport(), String.t() | pos_integer()) :: {:ok, t()} | {:error, Error.t()}
  def get(sock, link) when is_transport(sock), do: get(sock, link, [])

  @doc "Like `get/2`, with the groups to fetch (see `t:opts/0`)."
  @spec get(transport(), String.t() | pos_integer(), opts()) :: {:ok, t()} | {:error, Error.t()}
  def get(sock, link, opts) when is_transport(sock) and is_list(opts) do
    _ = Link.validate_ref!(link)
    mask = filter_mask!(opts, "Stats.get/3")

    with {:ok, index} <- resolve(sock, link) do
      request = %__MODULE__{ifindex: index, filter_mask: mask}

      case Request.talk(sock, @rtm_getstats, 0, encode(request),
             operation: :get_stats,
             object: link
           ) do
        {:ok, [msg | _]} ->
          case decode_message(msg) do
            %__MODULE__{} = stats ->
              {:ok, stats}

            nil ->
              {:error,
               Error.new(:eproto,
                 operation: :get_stats,
                 object: link,
                 message: "unexpected reply"
               )}
          end

        {:ok, []} ->
          {:error, Error.new(:enodata, operation: :get_stats, object: link, message: "no reply")}

        {:error, %Error{errno: :enodev, message: nil} = e} ->
          {:error, %{e | message: "no such interface #{inspect(link)}"}}

        error ->
          error
      end
    end
  end

  @doc """
  The statistics of every link in the socket's netns (`RTM_GETSTATS` dump, like
  `ip stats show group link`). Unprivileged.
  """
  @spec list(transport()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock) when is_transport(sock), do: list(sock, [])

  @doc "Like `list/1`, with the groups to fetch (see `t:opts/0`)."
  @spec list(transport(), opts()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock, opts) when is_transport(sock) and is_list(opts) do
    mask = filter_mask!(opts, "Stats.list/2")

    Request.fold(
      sock,
      @rtm_getstats,
      nlm_f_dump(),
      encode(%__MODULE__{filter_mask: mask}),
      [],
      fn msg, acc ->
        case decode_message(msg) do
          %__MODULE__{} = s -> [s | acc]
          nil -> acc
        end
      end,
      operation: :list_stats,
      object: sock.netns
    )
    |> case do
      {:ok, stats} -> {:ok, Enum.reverse(stats)}
      error -> error
    end
  end

  @doc """
  The `filter_mask` for a list of groups (or `:all`). Raises `ArgumentError` naming an
  unknown group.

      iex> Linx.Netlink.Rtnl.Stats.filter_mask([:link_64])
      1
      iex> Linx.Netlink.Rtnl.Stats.filter_mask(:all)
      31
  """
  @spec filter_mask([group()] | :all) :: pos_integer()
  def filter_mask(:all), do: filter_mask(Keyword.keys(@groups))

  def filter_mask([_ | _] = groups) do
    Enum.reduce(groups, 0, fn group, acc ->
      case Keyword.fetch(@groups, group) do
        {:ok, attr} when is_atom(group) ->
          acc ||| 1 <<< (attr - 1)

        _ ->
          raise ArgumentError,
                "invalid stats group #{inspect(group)}: expected one of #{inspect(Keyword.keys(@groups))}"
      end
    end)
  end

  def filter_mask(other) do
    raise ArgumentError,
          "invalid stats groups #{inspect(other)}: expected :all or a non-empty list of #{inspect(Keyword.keys(@groups))}"
  end

  defp filter_mask!(opts, fun) do
    Enum.reduce(opts, filter_mask([:link_64]), fn
      {:groups, groups}, _ -> filter_mask(groups)
      other, _ -> raise ArgumentError, "invalid option for #{fun}: #{inspect(other)}"
    end)
  end

  @doc false
  # A reply or event message to stats, or nil when it is not a stats message.
  @spec decode_message(Message.t()) :: t() | nil
  def decode_message(%Message{type: @rtm_newstats, payload: payload}), do: decode(payload)
  def decode_message(_), do: nil

  defp resolve(sock, link), do: Link.resolve(sock, link, :get_stats)

  defimpl Inspect do
    def inspect(s, _opts) do
      counters =
        case s.link do
          %Linx.Netlink.Rtnl.Stats.Link64{} = l ->
            " rx=#{l.rx_packets}p/#{l.rx_bytes}B tx=#{l.tx_packets}p/#{l.tx_bytes}B"

          _ ->
            ""
        end

      "#Linx.Netlink.Rtnl.Stats<ifindex=#{s.ifindex}#{counters}>"
    end
  end
end
